"""The GitHub Actions workflows: lint, schema, pinning, least privilege, and what they run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitops.helpers import ROOT, WORKFLOWS, load_script, run, tool

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# `uses: owner/action@<sha> # v1.2.3` on one line: the comment tells Dependabot and readers
# which release the SHA is.
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; keep it a string.
    text = path.read_text(encoding="utf-8").replace("\non:", '\n"on":', 1)
    return yaml.safe_load(text)


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    return load(path)["jobs"]


def steps_using(workflow: dict[str, Any]) -> list[str]:
    return [
        step["uses"]
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    ]


def step_runs(path: Path, job_id: str) -> list[str]:
    return [step["run"] for step in jobs(path)[job_id].get("steps", []) if "run" in step]


WORKFLOW_IDS = [p.name for p in WORKFLOWS]


def test_the_expected_workflows_exist() -> None:
    assert {"ci.yml", "branch-policy.yml", "release.yml"} <= set(WORKFLOW_IDS)


def test_actionlint_passes_on_every_workflow() -> None:
    result = run(tool("actionlint"), "-no-color", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_workflow_matches_the_github_workflows_schema() -> None:
    schema = "vendor.github-workflows"
    result = run(tool("check-jsonschema"), "--builtin-schema", schema, *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_at_low_severity_or_above() -> None:
    result = run(tool("zizmor"), "--offline", "--min-severity", "low", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_its_schema_and_targets_develop() -> None:
    path = ROOT / ".github" / "dependabot.yml"
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    updates = yaml.safe_load(path.read_text())["updates"]
    assert {u["package-ecosystem"] for u in updates} >= {"uv", "docker", "github-actions"}
    assert {u["target-branch"] for u in updates} == {"develop"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=WORKFLOW_IDS)
def test_every_action_is_pinned_to_a_commit_sha_with_its_version(path: Path) -> None:
    uses = steps_using(load(path))
    assert uses, f"{path.name} uses no action"
    for ref in uses:
        assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned to a 40-character SHA"
    for line in path.read_text(encoding="utf-8").splitlines():
        match = USES_LINE.match(line)
        if match and not match["ref"].startswith("./"):  # a workflow of this very commit
            assert VERSION_COMMENT.search(match["rest"]), f"{path.name}: no # vX.Y.Z on {line!r}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=WORKFLOW_IDS)
def test_every_job_declares_permissions_and_a_timeout(path: Path) -> None:
    for job_id, job in jobs(path).items():
        assert "permissions" in job, f"{path.name}: job {job_id} has no permissions"
        if "uses" in job:
            continue  # calls a reusable workflow: its own jobs carry the timeouts
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: {job_id} has no timeout"
        assert 0 < job["timeout-minutes"] <= 60, f"{path.name}: {job_id} timeout out of range"


@pytest.mark.parametrize("path", WORKFLOWS, ids=WORKFLOW_IDS)
def test_workflow_defaults_are_read_only_and_runs_are_grouped(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") in ({}, {"contents": "read"}), path.name
    assert "group" in workflow.get("concurrency", {}), f"{path.name} has no concurrency group"


@pytest.mark.parametrize("path", WORKFLOWS, ids=WORKFLOW_IDS)
def test_checkouts_do_not_keep_the_token(path: Path) -> None:
    for job_id, job in jobs(path).items():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, (
                    f"{path.name}: {job_id} checkout keeps the token in .git/config"
                )


@pytest.mark.parametrize("path", WORKFLOWS, ids=WORKFLOW_IDS)
def test_no_untrusted_event_text_is_expanded_inside_a_shell_script(path: Path) -> None:
    # Titles and branch names reach scripts through env:, never as ${{ }} in run:.
    untrusted = re.compile(r"\$\{\{\s*github\.(head_ref|event\.pull_request\.(title|body|head))")
    for job_id, job in jobs(path).items():
        for step in job.get("steps", []):
            assert not untrusted.search(step.get("run", "")), f"{path.name}: {job_id}: {step}"


def test_write_permissions_only_where_the_release_needs_them() -> None:
    writes = {}
    for path in WORKFLOWS:
        for job_id, job in jobs(path).items():
            granted = {k for k, v in (job["permissions"] or {}).items() if v == "write"}
            if granted:
                writes[f"{path.name}:{job_id}"] = granted
    assert writes == {
        "ci.yml:release": {"contents", "packages", "pull-requests"},  # passed on to release.yml
        "release.yml:publish": {"packages"},
        "release.yml:gitops": {"contents", "pull-requests"},
    }


# --- CI ---------------------------------------------------------------------------------------

CI = ROOT / ".github" / "workflows" / "ci.yml"


def test_ci_runs_on_pull_requests_and_pushes_to_develop_and_main() -> None:
    on = load(CI)["on"]
    assert set(on["pull_request"]["branches"]) == {"develop", "main"}
    assert set(on["push"]["branches"]) == {"develop", "main"}


def test_the_aggregate_job_needs_every_other_job_and_always_reports() -> None:
    ci_jobs = jobs(CI)
    aggregate = ci_jobs["all-green"]
    assert aggregate["name"] == "all green"
    assert aggregate["if"] == "always()"
    # Everything but itself and the release that follows it (which runs on pushes only).
    assert set(aggregate["needs"]) == set(ci_jobs) - {"all-green", "release", "release-scope"}
    script = "\n".join(step_runs(CI, "all-green"))
    assert 'all(.value.result == "success")' in script


def test_ci_tests_run_the_readme_command_against_a_postgres_service() -> None:
    job = jobs(CI)["tests"]
    assert job["services"]["postgres"]["image"].startswith("postgres:17")
    assert job["env"]["TEST_DATABASE_URL"].startswith("postgresql://postgres:postgres@localhost")
    runs = step_runs(CI, "tests")
    assert "uv sync --locked" in runs
    assert "uv run pytest" in runs
    assert any("/usr/bin/chromium" in script for script in runs)


def shell_block_lines(markdown: str) -> list[str]:
    """Lines inside fenced shell blocks (```bash, ```sh, ```shell, ```console, or no language),
    tracking each fence so that other blocks (```text, ```mermaid) are skipped whole."""
    lines, language = [], None
    for line in markdown.splitlines():
        fence = re.match(r"^\s*```(\w*)", line)
        if fence:
            language = None if language is not None else fence.group(1) or "plain"
            continue
        if language in ("bash", "sh", "shell", "console", "plain"):
            lines.append(line)
    return lines


def test_shell_block_lines_skip_other_languages() -> None:
    markdown = "```bash\ndocker compose up\n```\ntext\n```text\nuv run pytest -k x\n```\n"
    markdown += "```\nuv run pytest\n```\n"
    assert shell_block_lines(markdown) == ["docker compose up", "uv run pytest"]


def test_ci_runs_the_test_command_that_the_readme_and_ci_script_give() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = {
        line.strip().removeprefix("$ ")
        for line in shell_block_lines(readme)
        if line.strip().removeprefix("$ ").startswith(("uv run pytest", "docker compose up"))
    }
    assert "uv run pytest" in commands, "the README shows no `uv run pytest`"
    ci_text = CI.read_text(encoding="utf-8")
    for command in commands:
        assert command in ci_text, f"the README's `{command}` is not what CI runs"
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "uv sync --locked" in ci_script
    assert re.search(r"^uv run pytest\b", ci_script, re.M)


def test_ci_pre_commit_job_runs_every_hook_but_the_duplicate_tests() -> None:
    job = jobs(CI)["pre-commit"]
    step = next(s for s in job["steps"] if "pre-commit run" in s.get("run", ""))
    assert "--all-files" in step["run"]
    assert step["env"]["SKIP"] == "pytest-fast"


def test_ci_builds_the_three_images_with_buildx_and_the_actions_cache() -> None:
    job = jobs(CI)["images"]
    assert set(job["strategy"]["matrix"]["image"]) == {"job", "dashboard", "survey"}
    build = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push"))
    assert build["with"]["file"] == "Dockerfile.${{ matrix.image }}"
    assert build["with"]["cache-from"].startswith("type=gha")
    assert build["with"]["cache-to"].startswith("type=gha")
    assert build["with"]["push"] is False


def test_ci_compose_smoke_waits_then_checks_the_job_and_the_dashboard() -> None:
    script = "\n".join(step_runs(CI, "compose-smoke"))
    assert "docker compose up --build --wait" in script
    assert 'docker wait "$job"' in script  # the one-shot job's exit code, once it has ended
    assert "{{.State.Health.Status}}" in script  # the dashboard's healthcheck
    assert "/_stcore/health" in script
    assert "survey health" in script  # the survey's healthcheck too
    assert "scripts/smoke_survey.py" in script  # an answer reaches the dashboard's figures
    assert "docker compose down --volumes" in script


# --- branch policy and release ----------------------------------------------------------------

POLICY = ROOT / ".github" / "workflows" / "branch-policy.yml"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def test_branch_policy_workflow_only_calls_the_script_from_the_base_branch() -> None:
    workflow = load(POLICY)
    assert "edited" in workflow["on"]["pull_request"]["types"]
    (job,) = workflow["jobs"].values()
    checkout = job["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.base_ref }}"
    (script,) = [s["run"] for s in job["steps"] if "run" in s]
    assert script.startswith("python3 scripts/branch_policy.py ")
    assert {"--head", "--base", "--title"} <= set(script.split())


def test_release_runs_only_after_ci_passed_on_the_same_commit() -> None:
    """Nothing publishes on a push by itself: the release is a job of CI that needs "all green"
    (every CI job passed), and the called workflow builds that run's commit (github.sha)."""
    assert set(load(RELEASE)["on"]) == {"workflow_call"}  # no push or tag trigger of its own
    ci = load(CI)
    assert ci["on"]["push"]["branches"] == ["develop", "main"]
    assert ci["on"]["push"]["tags"] == ["v*.*.*"]  # a version tag is tested before release
    release = ci["jobs"]["release"]
    assert release["uses"] == "./.github/workflows/release.yml"
    assert set(release["needs"]) == {"all-green", "release-scope"}
    condition = " ".join(release["if"].split())
    assert "github.event_name == 'push'" in condition
    assert "github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v')" in condition
    assert "needs.release-scope.outputs.publish == 'true'" in condition
    assert "always()" not in condition  # skipped whenever a needed job did not succeed
    assert release["secrets"] == {"GITOPS_TOKEN": "${{ secrets.GITOPS_TOKEN }}"}
    for job in jobs(RELEASE).values():
        for step in job.get("steps", []):
            ref = step.get("with", {}).get("ref")
            assert ref in (None, "main"), ref  # images from the CI run's commit, never another


def test_release_scope_skips_pushes_that_change_only_deploy_or_docs() -> None:
    script = "\n".join(step_runs(CI, "release-scope"))
    assert "git diff --name-only" in script
    assert "'^(deploy/|docs/)|\\.md$'" in script
    checkout = jobs(CI)["release-scope"]["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0  # the push's first commit is there to diff


def test_release_publishes_to_ghcr_with_sbom_and_provenance() -> None:
    workflow = load(RELEASE)
    publish = workflow["jobs"]["publish"]
    builds = [s for s in publish["steps"] if s.get("uses", "").startswith("docker/build-push")]
    assert {b["with"]["file"] for b in builds} == {
        "Dockerfile.job",
        "Dockerfile.dashboard",
        "Dockerfile.survey",
    }
    for build in builds:
        assert build["with"]["push"] is True
        assert build["with"]["sbom"] is True
        assert build["with"]["provenance"] == "mode=max"
        assert "cache-to" not in build["with"]  # a release reads the cache, never writes it
    metas = [s for s in publish["steps"] if s.get("uses", "").startswith("docker/metadata")]
    for meta in metas:
        tags = meta["with"]["tags"]
        assert "type=semver,pattern={{version}}" in tags
        assert "type=sha" in tags
        assert "value=latest,enable=${{ github.ref == 'refs/heads/main' }}" in tags


def test_the_gitops_pull_request_passes_the_branch_policy() -> None:
    """The release workflow's PR (branch, base, title) must be one the policy allows."""
    policy = load_script("branch_policy")
    gitops = jobs(RELEASE)["gitops"]
    step = next(s for s in gitops["steps"] if "create-pull-request" in s.get("uses", ""))
    for environment in ("staging", "production"):

        def expand(template: str, env: str = environment) -> str:
            return template.replace("${{ env.ENVIRONMENT }}", env).replace(
                "${{ steps.commit.outputs.short }}", "1a2b3c4"
            )

        head, base, title = (expand(step["with"][k]) for k in ("branch", "base", "title"))
        assert "${{" not in head + title
        verdict = policy.evaluate(head, base, title)
        assert verdict.allowed, verdict.problems
        assert expand(step["with"]["add-paths"]) == (
            f"deploy/overlays/{environment}/kustomization.yaml"
        )


def test_the_gitops_step_pins_digests_with_the_edit_script() -> None:
    script = "\n".join(step_runs(RELEASE, "gitops"))
    assert "python3 scripts/set_image_digest.py" in script
    assert '"npscsat-job=${JOB}"' in script
    assert '"npscsat-dashboard=${DASHBOARD}"' in script
    assert '"npscsat-survey=${SURVEY}"' in script
    assert "kubectl kustomize" in script


def test_dependabot_titles_and_branches_pass_the_branch_policy() -> None:
    policy = load_script("branch_policy")
    updates = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())["updates"]
    for update in updates:
        prefix = update["commit-message"]["prefix"]
        scope = "(deps)" if update["commit-message"].get("include") == "scope" else ""
        title = f"{prefix}{scope}: bump some-package from 1.0.0 to 1.0.1"
        head = f"dependabot/{update['package-ecosystem'].replace('-', '_')}/some-package-1.0.1"
        verdict = policy.evaluate(head, update["target-branch"], title)
        assert verdict.allowed, verdict.problems
