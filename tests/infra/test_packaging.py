"""The project is installed as a package (editable) in the venv and in both images, so nothing
puts the repository on sys.path by hand."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.infra.tools import REPO

SOURCE_DIRS = ("npscsat", "jobs", "dashboard", "survey", "benchmarks", "scripts", "tests")


def test_the_packages_import_from_any_directory(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dashboard.auth, jobs.cli, npscsat.login, survey.app; print('ok')",
        ],
        cwd=tmp_path,  # not the repository: found because the project is installed
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # no PYTHONPATH
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_no_module_edits_sys_path():
    for directory in SOURCE_DIRS:
        for path in (REPO / directory).rglob("*.py"):
            text = path.read_text()
            assert not re.search(r"sys\.path\.(insert|append)", text), path
    pytest_config = (REPO / "pyproject.toml").read_text()
    assert "pythonpath" not in pytest_config and "package = false" not in pytest_config


def test_both_images_install_the_project_after_its_dependencies():
    for image, packages in (
        ("job", ("npscsat", "jobs")),
        ("dashboard", ("npscsat", "dashboard")),
        ("survey", ("npscsat", "survey")),
    ):
        text = (REPO / f"Dockerfile.{image}").read_text()
        dependencies = text.index(f"--group {image} --no-install-project")
        project = text.index(f"uv sync --locked --no-default-groups --group {image}\n")
        assert dependencies < project  # the dependency layer stays cached across code changes
        for package in packages:
            assert text.index(f"COPY {package}/ {package}/") < project
