""".ci/run points uv at the Python interpreter itself: a launcher such as a pyenv shim (a shell
script) makes every uv command delete and rebuild the virtual environment."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.infra.tools import REPO

CHOOSE_PYTHON = REPO / ".ci" / "uv-python"


def uv_sync(project, python: str) -> str:
    done = subprocess.run(
        [shutil.which("uv") or "uv", "sync", "--offline"],
        cwd=project,
        env={**os.environ, "UV_PYTHON": python, "UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_ci_run_takes_its_interpreter_from_the_chooser():
    script = (REPO / ".ci" / "run").read_text()
    assert 'UV_PYTHON="${UV_PYTHON:-$(.ci/uv-python)}"' in script
    assert "command -v python3.11" not in script  # a shim on a pyenv machine


def test_the_chosen_interpreter_is_a_binary_not_a_launcher_script():
    env = {k: v for k, v in os.environ.items() if k != "UV_PYTHON"}
    chosen = subprocess.run(
        [str(CHOOSE_PYTHON)], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    with open(chosen, "rb") as interpreter:
        assert interpreter.read(2) != b"#!", f"{chosen} is a script"
    assert "/shims/" not in chosen


def test_with_the_chosen_interpreter_a_second_uv_command_keeps_the_environment(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "probe"\nversion = "0"\nrequires-python = ">=3.11"\n'
        "dependencies = []\n[tool.uv]\npackage = false\n"
    )
    chosen = subprocess.run(
        [str(CHOOSE_PYTHON)], capture_output=True, text=True, check=True
    ).stdout.strip()
    uv_sync(tmp_path, chosen)
    second = uv_sync(tmp_path, chosen)
    assert "Removed virtual environment" not in second
    assert "Creating virtual environment" not in second
