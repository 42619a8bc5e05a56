"""Runs the linters installed in the project's venv by `uv sync` (no system installs needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        raise AssertionError(f"{name} is not installed in {VENV_BIN}; run `uv sync --locked`")
    return str(path)


def run(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def clean_env(**extra: str) -> dict:
    """The environment of a fresh clone: no compose variables, no .env."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, **extra}


def tracked_files() -> list[Path]:
    out = run("git", "ls-files", "-z").stdout
    return [REPO / name for name in out.split("\0") if name]
