""".pre-commit-config.yaml: valid, complete, offline (every hook runs a tool from the venv)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.gitops.helpers import ROOT, run, tool

CONFIG = ROOT / ".pre-commit-config.yaml"


def hooks() -> dict[str, dict]:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_config_is_valid() -> None:
    result = run(tool("pre-commit"), "validate-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hook_is_local_so_nothing_is_fetched() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert [repo["repo"] for repo in config["repos"]] == ["local"]


def test_the_required_hooks_are_there() -> None:
    assert {
        "ruff-check",
        "ruff-format",
        "hadolint",
        "actionlint",
        "workflows-schema",
        "compose-schema",
        "detect-private-key",
        "trailing-whitespace",
        "end-of-file-fixer",
        "kustomize-render",
        "pytest-fast",
    } <= set(hooks())


def test_fast_tests_hook_runs_the_documented_subset() -> None:
    hook = hooks()["pytest-fast"]
    assert shlex.split(hook["entry"]) == ["uv", "run", "pytest", "-m", "not slow", "-x", "-q"]
    assert hook["pass_filenames"] is False


@pytest.mark.parametrize("hook_id", sorted(hooks()))
def test_every_hook_runs_a_tool_installed_by_uv_sync(hook_id: str) -> None:
    argv = shlex.split(hooks()[hook_id]["entry"])
    assert argv[:2] == ["uv", "run"], f"{hook_id} does not run from the project's venv"
    command = argv[2]
    if command == "python":
        script = ROOT / argv[3]
        assert script.is_file(), f"{hook_id}: {script} is missing"
    else:
        assert Path(tool(command)).is_file(), f"{hook_id}: {command} is not installed"


@pytest.mark.parametrize(
    ("hook_id", "pattern_key", "matches", "ignores"),
    [
        ("hadolint", "files", ["Dockerfile.job", "Dockerfile.dashboard", "Dockerfile"], ["x.py"]),
        ("compose-schema", "files", ["compose.yaml", "compose.override.yaml"], ["deploy/a.yaml"]),
        ("actionlint", "files", [".github/workflows/ci.yml"], [".github/dependabot.yml"]),
        ("workflows-schema", "files", [".github/workflows/release.yml"], ["ci.yml"]),
        ("kustomize-render", "files", ["deploy/base/job.yaml"], ["docs/gitops.md"]),
    ],
)
def test_file_patterns_select_the_right_files(hook_id, pattern_key, matches, ignores) -> None:
    import re

    pattern = re.compile(hooks()[hook_id][pattern_key])
    for name in matches:
        assert pattern.search(name), f"{hook_id} skips {name}"
    for name in ignores:
        assert not pattern.search(name), f"{hook_id} runs on {name}"


@pytest.mark.slow
def test_hooks_run_offline_and_catch_problems(tmp_path: Path) -> None:
    """A throwaway repository with this config: the hooks run from this project's venv
    (UV_PROJECT) and fail on a private key, a broken workflow and trailing whitespace."""
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(CONFIG, repo / ".pre-commit-config.yaml")
    # Built at run time, so that no scanner finds a key header in this file.
    header = "-----BEGIN " + "RSA PRIVATE KEY-----"
    (repo / "id_rsa").write_text(f"{header}\nMIIE\n")
    (repo / ".github" / "workflows" / "bad.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.event.nope.nope }\n"
    )
    (repo / "spaces.txt").write_text("trailing   \n")
    env = {
        **os.environ,
        "UV_PROJECT": str(ROOT),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)

    def hook(hook_id: str, *files: str) -> subprocess.CompletedProcess[str]:
        return run(tool("pre-commit"), "run", hook_id, "--files", *files, cwd=repo, env=env)

    private = hook("detect-private-key", "id_rsa")
    assert private.returncode == 1, private.stdout
    assert "Private key found: id_rsa" in private.stdout

    lint = hook("actionlint", ".github/workflows/bad.yml")
    assert lint.returncode == 1, lint.stdout
    assert "bad.yml" in lint.stdout

    fixed = hook("trailing-whitespace", "spaces.txt")
    assert fixed.returncode == 1, fixed.stdout
    assert (repo / "spaces.txt").read_text() == "trailing\n"
    assert hook("trailing-whitespace", "spaces.txt").returncode == 0
