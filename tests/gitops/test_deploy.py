"""deploy/: the Kustomize overlays render, validate and follow the project's rules; the digest
editor behaves like `kustomize edit set image`; the GitOps examples point at real overlays."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitops.helpers import ROOT, load_script, run

check = load_script("check_deploy")
edit = load_script("set_image_digest")

OVERLAYS = check.overlays()
OVERLAY_IDS = [p.name for p in OVERLAYS]
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {path.name: check.render(path) for path in OVERLAYS}


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def the(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (obj,) = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    return obj


DASHBOARD, SURVEY = "npscsat-dashboard", "npscsat-survey"


def test_staging_and_production_overlays_exist() -> None:
    assert OVERLAY_IDS == ["production", "staging"]


def test_the_kubectl_from_the_venv_renders_offline() -> None:
    kubectl = check.find_kubectl()
    result = run(kubectl, "kustomize", str(ROOT / "deploy" / "overlays" / "staging"))
    assert result.returncode == 0, result.stderr
    assert "kind: Deployment" in result.stdout


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_overlay_renders_the_whole_application(rendered, name: str) -> None:
    objects = rendered[name]
    kinds = sorted(obj["kind"] for obj in objects)
    expected = [
        "ConfigMap", "CronJob", "Deployment", "Deployment", "Job", "Namespace", "Service", "Service"
    ]  # fmt: skip
    assert [k for k in kinds if k != "PodDisruptionBudget"] == expected
    namespace = the(objects, "Namespace")["metadata"]["name"]
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_overlay_objects_validate_against_the_kubernetes_schemas(rendered, name: str) -> None:
    assert check.schema_problems(rendered[name]) == []


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_overlay_follows_the_security_and_operations_rules(rendered, name: str) -> None:
    assert check.policy_problems(rendered[name]) == []


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_pods_run_as_uid_10001_non_root_with_a_read_only_root(rendered, name: str) -> None:
    workloads = [obj for obj in rendered[name] if check.pod_spec(obj) is not None]
    assert {obj["kind"] for obj in workloads} == {"Deployment", "Job", "CronJob"}
    for obj in workloads:
        spec = check.pod_spec(obj)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"]["cpu"]
            assert container["resources"]["requests"]["memory"]


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_dashboard_is_probed_on_streamlit_health_and_served_by_the_service(
    rendered, name: str
) -> None:
    _probed_and_served(rendered[name], DASHBOARD, 8501, "/_stcore/health")


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_the_survey_is_probed_on_healthz_and_served_by_its_service(rendered, name: str) -> None:
    _probed_and_served(rendered[name], SURVEY, 8502, "/healthz")
    service = the(rendered[name], "Service", SURVEY)
    assert "sessionAffinity" not in service["spec"]  # stateless: any replica, any request


def _probed_and_served(objects, app: str, port: int, path: str) -> None:
    deployment, service = the(objects, "Deployment", app), the(objects, "Service", app)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def _secret_refs(container: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (var["valueFrom"]["secretKeyRef"]["name"], var["valueFrom"]["secretKeyRef"]["key"])
        for var in container.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_secrets_are_referenced_by_name_and_each_pod_gets_only_its_own(rendered, name: str) -> None:
    objects = rendered[name]
    assert by_kind(objects, "Secret") == []
    dashboard = the(objects, "Deployment", DASHBOARD)["spec"]["template"]["spec"]["containers"][0]
    assert _secret_refs(dashboard) == {
        ("npscsat-dashboard-secrets", "DASHBOARD_DATABASE_URL"),
        ("npscsat-dashboard-secrets", "AUTH_COOKIE_KEY"),
    }
    survey = the(objects, "Deployment", SURVEY)["spec"]["template"]["spec"]["containers"][0]
    assert _secret_refs(survey) == {
        ("npscsat-survey-secrets", "SURVEY_DATABASE_URL"),
        ("npscsat-survey-secrets", "SURVEY_SIGNING_KEY"),
    }
    job_refs = {
        ("npscsat-job-secrets", "DATABASE_URL"),
        ("npscsat-job-secrets", "DASHBOARD_DB_PASSWORD"),
        ("npscsat-job-secrets", "DASHBOARD_ADMIN_PASSWORD"),
        ("npscsat-job-secrets", "SURVEY_DB_PASSWORD"),
    }
    for kind in ("Job", "CronJob"):
        container = check.pod_spec(the(objects, kind))["containers"][0]
        assert _secret_refs(container) == job_refs, kind


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_configmap_carries_the_settings_and_no_secret(rendered, name: str) -> None:
    config = the(rendered[name], "ConfigMap")
    assert set(config["data"]) == {
        "APP_ENV",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "BUSINESS_TIMEZONE",
        "OLLAMA_HOST",
        "OLLAMA_MODEL",
        "JOB_TARGET_RESPONSES",
        "DASHBOARD_DB_USER",
        "DASHBOARD_ADMIN_USERNAME",
        "AUTH_TRUSTED_PROXIES",
        "SURVEY_DB_USER",
        "SURVEY_PUBLIC_URL",
        "SURVEY_LINK_DAYS",
        "SURVEY_EDIT_HOURS",
        "SURVEY_TRUSTED_PROXIES",
    }
    assert config["data"]["APP_ENV"] == "prod"  # demo values are refused in the cluster
    assert config["data"]["SURVEY_PUBLIC_URL"].startswith("https://")
    workloads = [o for o in rendered[name] if check.pod_spec(o) is not None]
    assert len(workloads) == 4
    for workload in workloads:
        container = check.pod_spec(workload)["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]


def test_no_secret_manifest_with_values_is_committed_under_deploy() -> None:
    for path in (ROOT / "deploy").rglob("*.y*ml"):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                assert not doc.get("data") and not doc.get("stringData"), path
        kustomization = yaml.safe_load(path.read_text()) if path.name.startswith("kustom") else {}
        assert not (kustomization or {}).get("secretGenerator"), f"{path}: secretGenerator"


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_both_images_are_pinned_by_digest(rendered, name: str) -> None:
    images = {
        container["image"]
        for obj in rendered[name]
        if check.pod_spec(obj) is not None
        for container in check.pod_spec(obj)["containers"]
    }
    assert len(images) == 3
    assert all(check.DIGEST_IMAGE.match(image) for image in images), images
    assert {image.split("@")[0].rsplit("/", 1)[1] for image in images} == {
        "npscsat-job",
        "npscsat-dashboard",
        "npscsat-survey",
    }


@pytest.mark.parametrize("app", [DASHBOARD, SURVEY])
def test_production_keeps_two_dashboards_and_two_surveys_through_disruptions(
    rendered, app: str
) -> None:
    objects = rendered["production"]
    assert the(objects, "Deployment", app)["spec"]["replicas"] == 2
    pdb = the(objects, "PodDisruptionBudget", app)
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == the(objects, "Deployment", app)["spec"]["selector"]


def test_the_job_is_recreated_by_gitops_controllers_and_the_cronjob_never_overlaps(
    rendered,
) -> None:
    for objects in rendered.values():
        annotations = the(objects, "Job")["metadata"]["annotations"]
        assert annotations["argocd.argoproj.io/hook"] == "Sync"
        assert annotations["kustomize.toolkit.fluxcd.io/force"] == "enabled"
        cron = the(objects, "CronJob")["spec"]
        assert cron["concurrencyPolicy"] == "Forbid"
        assert cron["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


# --- the checker catches what it is meant to catch ----------------------------------------


def _workload(objects, kind):
    return next(obj for obj in objects if obj["kind"] == kind)


def _container(objects, kind):
    return check.pod_spec(_workload(objects, kind))["containers"][0]


MUTATIONS = {
    "root user": (
        lambda o: check.pod_spec(_workload(o, "Job"))["securityContext"].update(runAsUser=0),
        "runAsUser is not 10001",
    ),
    "runAsNonRoot off": (
        lambda o: check.pod_spec(_workload(o, "Deployment"))["securityContext"].pop("runAsNonRoot"),
        "runAsNonRoot is not true",
    ),
    "container as root": (
        lambda o: _container(o, "CronJob")["securityContext"].update(runAsUser=0),
        "runs as root",
    ),
    "writable root": (
        lambda o: _container(o, "Deployment")["securityContext"].update(
            readOnlyRootFilesystem=False
        ),
        "readOnlyRootFilesystem is not true",
    ),
    "escalation": (
        lambda o: _container(o, "Job")["securityContext"].pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation is not false",
    ),
    "capabilities kept": (
        lambda o: _container(o, "Job")["securityContext"]["capabilities"].update(drop=[]),
        "capabilities are not all dropped",
    ),
    "no liveness probe": (
        lambda o: _container(o, "Deployment").pop("livenessProbe"),
        "no livenessProbe",
    ),
    "readiness elsewhere": (
        lambda o: _container(o, "Deployment")["readinessProbe"]["httpGet"].update(path="/"),
        "readinessProbe does not GET /_stcore/health",
    ),
    "survey readiness elsewhere": (
        lambda o: check.pod_spec(the(o, "Deployment", SURVEY))["containers"][0]["readinessProbe"][
            "httpGet"
        ].update(path="/"),
        "readinessProbe does not GET /healthz on port 8502",
    ),
    "survey secret in the ConfigMap": (
        lambda o: _workload(o, "ConfigMap")["data"].update(SURVEY_SIGNING_KEY="x" * 40),
        "holds secrets SURVEY_SIGNING_KEY",
    ),
    "no cpu request": (
        lambda o: _container(o, "CronJob")["resources"]["requests"].pop("cpu"),
        "no cpu request",
    ),
    "tag instead of digest": (
        lambda o: _container(o, "Deployment").update(image="ghcr.io/acme/npscsat-dashboard:1.0"),
        "is not ghcr.io/<owner>/npscsat-*@sha256",
    ),
    "literal secret": (
        lambda o: _container(o, "Job")["env"].append(
            {"name": "AUTH_COOKIE_KEY", "value": "not-a-secret-anymore"}
        ),
        "AUTH_COOKIE_KEY is a literal",
    ),
    "secret in git": (
        lambda o: o.append(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {}}
        ),
        "a Secret is rendered from git",
    ),
    "secret in the ConfigMap": (
        lambda o: _workload(o, "ConfigMap")["data"].update(DATABASE_URL="postgresql://x"),
        "holds secrets DATABASE_URL",
    ),
    "token mounted": (
        lambda o: check.pod_spec(_workload(o, "Deployment")).pop("automountServiceAccountToken"),
        "automountServiceAccountToken is not false",
    ),
    "namespace not restricted": (
        lambda o: _workload(o, "Namespace")["metadata"]["labels"].clear(),
        "Pod Security 'restricted' is not enforced",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_policy_check_reports_each_broken_rule(rendered, mutation: str) -> None:
    objects = copy.deepcopy(rendered["staging"])
    apply, expected = MUTATIONS[mutation]
    apply(objects)
    problems = check.policy_problems(objects)
    assert any(expected in problem for problem in problems), problems


def test_schema_check_reports_an_unknown_field(rendered) -> None:
    objects = copy.deepcopy(rendered["staging"])
    _workload(objects, "Deployment")["spec"]["replica"] = 2
    problems = check.schema_problems(objects)
    assert problems and "Deployment/npscsat-dashboard" in problems[0]


def test_check_deploy_script_passes_on_the_overlays_and_fails_on_the_base() -> None:
    import sys

    ok = run(sys.executable, str(ROOT / "scripts" / "check_deploy.py"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("ok   deploy/overlays/") == len(OVERLAYS)
    base = run(sys.executable, str(ROOT / "scripts" / "check_deploy.py"), "deploy/base")
    assert base.returncode == 1
    assert "is not ghcr.io/<owner>/npscsat-*@sha256" in base.stderr


# --- scripts/set_image_digest.py ------------------------------------------------------------


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    return tmp_path / "deploy"


def _images(objects):
    return sorted(
        container["image"]
        for obj in objects
        if check.pod_spec(obj) is not None
        for container in check.pod_spec(obj)["containers"]
    )


@pytest.mark.parametrize("name", OVERLAY_IDS)
def test_pinning_new_digests_changes_only_the_images(deploy_copy: Path, name: str) -> None:
    overlay = deploy_copy / "overlays" / name
    before_text = (overlay / "kustomization.yaml").read_text()
    before = check.render(overlay)
    code = edit.main(
        [
            str(overlay),
            f"npscsat-job=ghcr.io/acme/npscsat-job@{DIGEST_A}",
            f"npscsat-dashboard=ghcr.io/acme/npscsat-dashboard@{DIGEST_B}",
            f"npscsat-survey=ghcr.io/acme/npscsat-survey@{DIGEST_A}",
        ]
    )
    assert code == 0
    after = check.render(overlay)
    assert _images(after) == [
        f"ghcr.io/acme/npscsat-dashboard@{DIGEST_B}",
        f"ghcr.io/acme/npscsat-job@{DIGEST_A}",
        f"ghcr.io/acme/npscsat-job@{DIGEST_A}",
        f"ghcr.io/acme/npscsat-survey@{DIGEST_A}",
    ]
    assert check.policy_problems(after) == []
    # Nothing but the images changed, in the rendering or in the file above `images:`.
    for obj in [*before, *after]:
        for container in (check.pod_spec(obj) or {}).get("containers", []):
            container["image"] = "-"
    assert before == after
    after_text = (overlay / "kustomization.yaml").read_text()
    head = before_text.split("\nimages:\n")[0]
    assert after_text.startswith(head + "\nimages:\n")


def test_pinning_is_idempotent(deploy_copy: Path, capsys) -> None:
    overlay = deploy_copy / "overlays" / "staging"
    spec = f"npscsat-job=ghcr.io/acme/npscsat-job@{DIGEST_A}"
    assert edit.main([str(overlay), spec]) == 0
    first = (overlay / "kustomization.yaml").read_text()
    assert edit.main([str(overlay), spec]) == 0
    assert (overlay / "kustomization.yaml").read_text() == first
    assert "already pinned" in capsys.readouterr().out


KUSTOMIZATION = """\
# header comment
resources:
  - ../../base
images:
  - name: zeta
    newTag: "1.0"
  # a comment inside the list goes, as with kustomize
  - name: npscsat-job
    newName: ghcr.io/old/npscsat-job
    newTag: v1

# a comment after the list stays
namePrefix: x-
"""


def test_edit_follows_kustomize_edit_set_image_semantics() -> None:
    out = edit.set_images(
        KUSTOMIZATION,
        [
            ("npscsat-job", "ghcr.io/acme/npscsat-job", DIGEST_A),  # newTag dropped
            ("npscsat-dashboard", "ghcr.io/acme/npscsat-dashboard", DIGEST_B),  # added
            ("zeta", None, DIGEST_B),  # NAME@digest keeps the name
        ],
    )
    assert out == (
        "# header comment\n"
        "resources:\n"
        "  - ../../base\n"
        "images:\n"
        "  - name: npscsat-dashboard\n"
        "    newName: ghcr.io/acme/npscsat-dashboard\n"
        f"    digest: {DIGEST_B}\n"
        "  - name: npscsat-job\n"
        "    newName: ghcr.io/acme/npscsat-job\n"
        f"    digest: {DIGEST_A}\n"
        "  - name: zeta\n"
        f"    digest: {DIGEST_B}\n"
        "\n"
        "# a comment after the list stays\n"
        "namePrefix: x-\n"
    )
    assert yaml.safe_load(out)["namePrefix"] == "x-"


def test_edit_adds_an_images_list_when_there_is_none() -> None:
    out = edit.set_images("resources:\n  - ../../base", [("a", "r.io/o/a", DIGEST_A)])
    assert yaml.safe_load(out) == {
        "resources": ["../../base"],
        "images": [{"name": "a", "newName": "r.io/o/a", "digest": DIGEST_A}],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("images:\n  - name: a\n    newName:\n      nested: x\n", "unexpected line"),
        ("images:\n  - name: a\n    tagSuffix: x\n", "unsupported key 'tagSuffix'"),
        ("images:\n  - name: a\n  - name: a\n", "same name"),
        ("images:\n  - newName: r.io/a\n", "has no name"),
        ("images:\n  - name: a\n    name: b\n", "repeated"),
    ],
)
def test_edit_refuses_what_it_cannot_rewrite_safely(text: str, expected: str) -> None:
    with pytest.raises(edit.EditError, match=expected):
        edit.set_images(text, [("a", "r.io/o/a", DIGEST_A)])


@pytest.mark.parametrize(
    "spec",
    [
        "npscsat-job=ghcr.io/acme/npscsat-job:v1",
        "npscsat-job=ghcr.io/acme/npscsat-job@sha256:abc",
        "npscsat-job=ghcr.io/Acme/npscsat-job@" + DIGEST_A,
        "npscsat-job=ghcr.io/acme/npscsat-job@SHA256:" + "a" * 64,
    ],
)
def test_cli_refuses_anything_but_a_lowercase_digest_reference(deploy_copy: Path, spec) -> None:
    import sys

    overlay = deploy_copy / "overlays" / "staging"
    result = run(sys.executable, str(ROOT / "scripts" / "set_image_digest.py"), str(overlay), spec)
    assert result.returncode == 2
    assert "is not NAME=NEW_NAME@sha256" in result.stderr
    assert (overlay / "kustomization.yaml").read_text() == (
        ROOT / "deploy" / "overlays" / "staging" / "kustomization.yaml"
    ).read_text()


# --- GitOps controller examples -------------------------------------------------------------


def _gitops_docs() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted((ROOT / "deploy" / "gitops").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def test_argo_cd_applications_sync_each_overlay_from_main() -> None:
    apps = {
        doc["spec"]["source"]["path"]: doc
        for _, doc in _gitops_docs()
        if doc["kind"] == "Application"
    }
    assert set(apps) == {f"deploy/overlays/{name}" for name in OVERLAY_IDS}
    for path, app in apps.items():
        assert (ROOT / path / "kustomization.yaml").is_file()
        assert app["spec"]["source"]["targetRevision"] == "main"
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        overlay_namespace = yaml.safe_load((ROOT / path / "kustomization.yaml").read_text())[
            "namespace"
        ]
        assert app["spec"]["destination"]["namespace"] == overlay_namespace


def test_flux_kustomizations_sync_each_overlay_from_main() -> None:
    docs = [doc for _, doc in _gitops_docs()]
    (source,) = [doc for doc in docs if doc["kind"] == "GitRepository"]
    assert source["spec"]["ref"] == {"branch": "main"}
    kustomizations = {
        doc["spec"]["path"].removeprefix("./"): doc
        for doc in docs
        if doc["kind"] == "Kustomization" and doc["apiVersion"].startswith("kustomize.toolkit")
    }
    assert set(kustomizations) == {f"deploy/overlays/{name}" for name in OVERLAY_IDS}
    for path, doc in kustomizations.items():
        assert doc["spec"]["sourceRef"]["name"] == source["metadata"]["name"]
        assert doc["spec"]["prune"] is True
        namespace = yaml.safe_load((ROOT / path / "kustomization.yaml").read_text())["namespace"]
        (check_,) = doc["spec"]["healthChecks"]
        assert check_ == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "npscsat-dashboard",
            "namespace": namespace,
        }


def test_gitops_examples_are_kept_out_of_the_rendered_overlays(rendered) -> None:
    for objects in rendered.values():
        kinds = {obj["kind"] for obj in objects}
        assert not kinds & {"Application", "GitRepository", "Kustomization"}
