"""scripts/branch_policy.py: which head may merge into which base, branch names, PR titles."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.gitops.helpers import ROOT, load_script, run

policy = load_script("branch_policy")
SCRIPT = str(ROOT / "scripts" / "branch_policy.py")
GOOD_TITLE = "feat(dashboard): throttle repeated login failures"


@pytest.mark.parametrize(
    ("head", "base"),
    [
        ("develop", "main"),
        ("hotfix/login-500", "main"),
        ("hotfix/2026.1.1", "main"),
        ("gitops/staging", "main"),
        ("gitops/production", "main"),
        ("feature/login-throttle", "develop"),
        ("feature/42-csv-export", "develop"),
        ("fix/week-label", "develop"),
        ("chore/bump-ruff", "develop"),
        ("docs/architecture-diagram", "develop"),
        ("release/1.2.0", "develop"),
        ("dependabot/uv/streamlit-1.67.1", "develop"),
        ("dependabot/github_actions/actions/checkout-5.0.1", "develop"),
        ("main", "develop"),
    ],
)
def test_allowed_branch_pairs(head: str, base: str) -> None:
    assert policy.check_branches(head, base) == []
    assert policy.evaluate(head, base, GOOD_TITLE).allowed


@pytest.mark.parametrize(
    ("head", "base", "expected"),
    [
        # into main: only develop, hotfix/* and the release workflow's gitops/*
        ("feature/login-throttle", "main", "open it against develop"),
        ("fix/week-label", "main", "open it against develop"),
        ("release/1.2.0", "main", "open it against develop"),
        ("dependabot/uv/streamlit-1.67.1", "main", "may not merge into main"),
        ("my-branch", "main", "may not merge into main"),
        # into develop: no hotfix/*, no gitops/*, no free names
        ("hotfix/login-500", "develop", "hotfixes go into main"),
        ("gitops/staging", "develop", "may not merge into develop"),
        ("feat/login", "develop", "may not merge into develop"),
        ("features/login", "develop", "may not merge into develop"),
        ("Feature/login", "develop", "may not merge into develop"),
        ("patch-1", "develop", "git branch -m feature/patch-1"),
        # a prefix is not enough: the name after it is checked
        ("feature/", "develop", "is not of the form feature/<name>"),
        ("feature/Login-Throttle", "develop", "is not of the form feature/<name>"),
        ("feature/login throttle", "develop", "is not of the form feature/<name>"),
        ("feature/login--throttle", "develop", "is not of the form feature/<name>"),
        ("feature/-login", "develop", "is not of the form feature/<name>"),
        ("feature/login/throttle", "develop", "is not of the form feature/<name>"),
        ("hotfix/Urgent", "main", "is not of the form hotfix/<name>"),
        ("feature/" + "a" * 80, "develop", "longer than 80"),
        # other bases and degenerate input
        ("feature/login", "release/1.2.0", "go into develop or main"),
        ("develop", "develop", "same branch"),
        ("main", "main", "same branch"),
        ("", "develop", "head branch name is empty"),
        ("feature/x", "", "base branch name is empty"),
    ],
)
def test_refused_branch_pairs(head: str, base: str, expected: str) -> None:
    problems = policy.check_branches(head, base)
    assert problems, f"{head} -> {base} was allowed"
    assert expected in " ".join(problems)
    assert not policy.evaluate(head, base, GOOD_TITLE).allowed


@pytest.mark.parametrize(
    "title",
    [
        "feat: add a CSV download",
        "feat(dashboard): throttle repeated login failures",
        "fix(jobs): retry on Ollama 503",
        "docs: architecture diagram",
        "refactor(db)!: rename the rollup view",
        "build(deps): bump streamlit from 1.67.0 to 1.67.1",
        "build(deps-dev): Bump ruff from 0.17.0 to 0.17.1",
        "ci(deps): bump the actions group with 2 updates",
        "chore(deploy): pin staging images to 1a2b3c4",
        "perf(dashboard/queries): read the rollup, not the rows",
        "revert: feat(dashboard): add a CSV download",
        "test: cover ISO week 53",
    ],
)
def test_conventional_titles_pass(title: str) -> None:
    assert policy.check_title(title) == []


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("", "title is empty"),
        ("Add CSV download", "is not '<type>(<scope>): <subject>'"),
        ("feat add CSV download", "is not '<type>(<scope>): <subject>'"),
        ("feat:add CSV download", "is not '<type>(<scope>): <subject>'"),
        ("Feat: add CSV download", "is not '<type>(<scope>): <subject>'"),
        ("WIP", "is not '<type>(<scope>): <subject>'"),
        ('Revert "feat: add CSV download"', "is not '<type>(<scope>): <subject>'"),
        ("feature: add CSV download", "type 'feature' is not one of"),
        ("update(db): new index", "type 'update' is not one of"),
        ("feat(): add CSV download", "scope '' must be lowercase"),
        ("feat(Dashboard): add CSV download", "scope 'Dashboard' must be lowercase"),
        ("feat(dash board): add CSV download", "scope 'dash board' must be lowercase"),
        ("feat: ", "leading or trailing spaces"),
        ("feat:", "is not '<type>(<scope>): <subject>'"),
        ("feat:  add CSV download", "starts with a space"),
        ("feat: add CSV download.", "ends with a period"),
        (" feat: add CSV download", "leading or trailing spaces"),
        ("feat: " + "x" * 100, "keep it within 100"),
    ],
)
def test_bad_titles_are_refused_with_a_reason(title: str, expected: str) -> None:
    problems = policy.check_title(title)
    assert problems, f"{title!r} was accepted"
    assert expected in " ".join(problems)
    assert not policy.evaluate("feature/x", "develop", title).allowed


@given(
    kind=st.sampled_from(policy.COMMIT_TYPES),
    scope=st.none() | st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8})?", fullmatch=True),
    breaking=st.booleans(),
    subject=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ,'()/-]{0,50}[A-Za-z0-9)]", fullmatch=True),
)
def test_every_well_formed_title_passes(kind, scope, breaking, subject) -> None:
    title = f"{kind}{f'({scope})' if scope else ''}{'!' if breaking else ''}: {subject}"
    assert policy.check_title(title) == []


HEADS = st.text(min_size=1, max_size=30) | st.from_regex(
    r"(feature|fix|chore|docs|release|hotfix|gitops|dependabot|develop|main)(/[a-z0-9._-]{0,20})?",
    fullmatch=True,
)


@given(head=HEADS)
def test_only_develop_hotfix_and_gitops_reach_main(head: str) -> None:
    if not policy.check_branches(head, "main"):
        assert head == "develop" or head.startswith(("hotfix/", "gitops/"))


@given(head=HEADS)
def test_develop_takes_only_work_branches_bots_and_main(head: str) -> None:
    work = ("feature/", "fix/", "chore/", "docs/", "release/", "dependabot/")
    if not policy.check_branches(head, "develop"):
        assert head == "main" or head.startswith(work)


def test_cli_allows_with_exit_0_and_says_why() -> None:
    result = run(
        sys.executable, SCRIPT, "--head", "feature/csv", "--base", "develop", "--title", GOOD_TITLE
    )
    assert result.returncode == 0, result.stderr
    assert "OK: feature/csv -> develop follows the branch flow" in result.stdout
    assert "is a conventional commit" in result.stdout


def test_cli_refuses_with_exit_1_listing_every_problem() -> None:
    result = run(
        sys.executable, SCRIPT, "--head", "feature/csv", "--base", "main", "--title", "Add CSV."
    )
    assert result.returncode == 1
    assert "REFUSED: feature/csv -> main" in result.stderr
    assert "open it against develop" in result.stderr
    assert "is not '<type>(<scope>): <subject>'" in result.stderr
    assert "docs/gitops.md" in result.stderr
    assert "::error" not in result.stdout  # annotations only inside GitHub Actions


def test_cli_prints_github_annotations_in_actions() -> None:
    env = {"GITHUB_ACTIONS": "true", "PATH": "/usr/bin:/bin"}
    result = run(
        sys.executable,
        SCRIPT,
        *("--head", "hotfix/x", "--base", "develop", "--title", "fix: 100% broken"),
        env=env,
    )
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert errors[0].startswith("::error title=Branch policy::'hotfix/x' may not merge")


def test_annotation_escapes_workflow_command_characters() -> None:
    assert policy._escape_annotation("50%\r\nnext") == "50%25%0D%0Anext"


def test_cli_without_title_checks_only_branches() -> None:
    result = run(sys.executable, SCRIPT, "--head", "develop", "--base", "main")
    assert result.returncode == 0
    assert "OK: develop -> main follows the branch flow" in result.stdout
    assert "conventional" not in result.stdout


def test_cli_usage_error_exits_2() -> None:
    result = run(sys.executable, SCRIPT, "--head", "feature/x")
    assert result.returncode == 2
    assert "--base" in result.stderr
