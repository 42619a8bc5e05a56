#!/usr/bin/env python3
"""Branch-flow policy for pull requests: which branch may merge into which, and PR titles.

    python scripts/branch_policy.py --head feature/login-throttle --base develop \\
        --title "feat(dashboard): throttle repeated login failures"

Exit codes: 0 allowed, 1 refused (every reason is printed with how to fix it), 2 bad usage.
Standard library only, so CI can run it before installing anything. In GitHub Actions
(GITHUB_ACTIONS=true) each refusal is also printed as an ::error annotation.

The flow (docs/gitops.md):
  feature/* fix/* chore/* docs/* release/*  ->  develop  ->  main
  hotfix/*                                                ->  main
  bots: dependabot/* -> develop (dependency updates), gitops/* -> main (image digest bumps
  opened by the release workflow); main -> develop brings hotfixes and bumps back.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass

# One path segment of a person's branch name: lowercase words joined by - . or _
SLUG = r"[a-z0-9]+(?:[-._][a-z0-9]+)*"
# Bots nest their names (dependabot/github_actions/actions/checkout-5.0.1).
BOT_SLUG = rf"{SLUG}(?:/{SLUG})*"
MAX_BRANCH_LENGTH = 80

# base branch -> {allowed head prefix or exact name: pattern for the whole head name}
RULES: dict[str, dict[str, str]] = {
    "main": {
        "develop": r"develop",
        "hotfix/": rf"hotfix/{SLUG}",
        "gitops/": rf"gitops/{SLUG}",
    },
    "develop": {
        "feature/": rf"feature/{SLUG}",
        "fix/": rf"fix/{SLUG}",
        "chore/": rf"chore/{SLUG}",
        "docs/": rf"docs/{SLUG}",
        "release/": rf"release/{SLUG}",
        "dependabot/": rf"dependabot/{BOT_SLUG}",
        "main": r"main",
    },
}

COMMIT_TYPES = (
    "feat",
    "fix",
    "docs",
    "style",
    "refactor",
    "perf",
    "test",
    "build",
    "ci",
    "chore",
    "revert",
)
TITLE_RE = re.compile(
    r"^(?P<type>[a-z]+)"
    r"(?:\((?P<scope>[^()]*)\))?"
    r"(?P<breaking>!)?"
    r": (?P<subject>.*)$"
)
SCOPE_RE = re.compile(r"^[a-z0-9]+(?:[-._/][a-z0-9]+)*$")
MAX_TITLE_LENGTH = 100
TITLE_EXAMPLE = "feat(dashboard): throttle repeated login failures"


@dataclass(frozen=True)
class Verdict:
    problems: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return not self.problems


def _allowed_heads(base: str) -> str:
    return ", ".join(f"{prefix}*" if prefix.endswith("/") else prefix for prefix in RULES[base])


def check_branches(head: str, base: str) -> list[str]:
    """Reasons the head -> base merge is refused (empty when allowed)."""
    if not head:
        return ["the head branch name is empty"]
    if not base:
        return ["the base branch name is empty"]
    if base not in RULES:
        return [
            f"pull requests go into develop or main, not into {base!r}: "
            "retarget the pull request (feature work goes into develop)"
        ]
    if head == base:
        return [f"head and base are the same branch ({head!r})"]
    rules = RULES[base]
    for prefix, pattern in rules.items():
        matched = head.startswith(prefix) if prefix.endswith("/") else head == prefix
        if not matched:
            continue
        if len(head) > MAX_BRANCH_LENGTH:
            return [f"branch name {head!r} is longer than {MAX_BRANCH_LENGTH} characters"]
        if not re.fullmatch(pattern, head):
            return [
                f"branch name {head!r} is not of the form {prefix}<name> with <name> in "
                "lowercase words joined by '-' (e.g. feature/login-throttle)"
            ]
        return []
    if base == "main" and any(head.startswith(p) for p in RULES["develop"] if p.endswith("/")):
        hint = ": open it against develop; develop is merged into main for a release"
    elif base == "develop" and head.startswith("hotfix/"):
        hint = ": hotfixes go into main, and main is then merged back into develop"
    else:
        hint = f": rename the branch (git branch -m {_suggest(head)})"
    return [f"{head!r} may not merge into {base}; allowed: {_allowed_heads(base)}{hint}"]


def _suggest(head: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", head.lower()).strip("-") or "my-change"
    return f"feature/{slug}"


def check_title(title: str) -> list[str]:
    """Reasons the PR title is not a conventional commit header (empty when it is)."""
    example = f"write it like {TITLE_EXAMPLE!r}"
    if title != title.strip():
        return [f"the title has leading or trailing spaces; {example}"]
    if not title:
        return [f"the title is empty; {example}"]
    match = TITLE_RE.match(title)
    if not match:
        return [f"title {title!r} is not '<type>(<scope>): <subject>'; {example}"]
    problems = []
    kind, scope, subject = match["type"], match["scope"], match["subject"]
    if kind not in COMMIT_TYPES:
        problems.append(f"type {kind!r} is not one of: {', '.join(COMMIT_TYPES)}")
    if scope is not None and not SCOPE_RE.fullmatch(scope):
        problems.append(f"scope {scope!r} must be lowercase words, e.g. 'dashboard' or 'deploy'")
    if not subject.strip() or subject != subject.lstrip():
        problems.append("the subject after ': ' is empty or starts with a space")
    elif subject.endswith("."):
        problems.append("the subject ends with a period; drop it")
    if len(title) > MAX_TITLE_LENGTH:
        problems.append(f"the title is {len(title)} characters; keep it within {MAX_TITLE_LENGTH}")
    return problems


def evaluate(head: str, base: str, title: str | None) -> Verdict:
    problems = check_branches(head, base)
    if title is not None:
        problems += check_title(title)
    return Verdict(tuple(problems))


def _escape_annotation(message: str) -> str:
    """GitHub workflow commands end at a newline; % CR LF must be escaped."""
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--head", required=True, help="the pull request's source branch")
    parser.add_argument("--base", required=True, help="the branch it merges into")
    parser.add_argument("--title", help="the pull request title (checked when given)")
    args = parser.parse_args(argv)

    verdict = evaluate(args.head, args.base, args.title)
    subject = f"{args.head} -> {args.base}"
    if verdict.allowed:
        titled = f", title {args.title!r} is a conventional commit" if args.title else ""
        print(f"branch policy: OK: {subject} follows the branch flow{titled}")
        return 0
    annotate = os.environ.get("GITHUB_ACTIONS") == "true"
    print(f"branch policy: REFUSED: {subject}", file=sys.stderr)
    for problem in verdict.problems:
        print(f"  - {problem}", file=sys.stderr)
        if annotate:
            print(f"::error title=Branch policy::{_escape_annotation(problem)}")
    print("  See docs/gitops.md (branch flow and commit convention).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
