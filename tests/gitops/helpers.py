"""Paths and tools shared by the GitOps tests. Tools come from the project's venv (`uv sync`),
so a missing one fails the test instead of skipping it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def tool(name: str) -> str:
    """A command from the venv's bin folder, else from PATH (kubectl: /usr/bin/kubectl)."""
    in_venv = Path(sys.executable).parent / name
    if in_venv.is_file():
        return str(in_venv)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `uv sync` (the dev group provides it)")
    return found


def run(*argv: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def load_script(name: str) -> ModuleType:
    """Imports scripts/<name>.py (scripts/ is not a package)."""
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
