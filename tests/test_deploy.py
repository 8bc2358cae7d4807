"""The deployment artifacts that describe a cluster, checked as far as this machine can
(docs/deployment.md says what is not): the compose file and the CI workflow against their
published JSON schemas (tests/data/schemas), the Helm chart rendered and linted by Helm's own
Go SDK (helm-python-sdk) with every manifest validated against the Kubernetes API schemas
(kubernetes-validate), and the Terraform parsed (python-hcl2). The image itself:
test_image.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploykit import (
    CHART,
    COMPOSE,
    KUBERNETES_VERSIONS,
    NGINX_TEMPLATE,
    REQUIRED,
    SETTING_NAMES,
    TERRAFORM,
    WORKFLOW,
    Yaml12Loader,
    cli_commands,
    compose,
    dockerfile_exec,
    dockerfile_port,
    dockerfile_uid,
    schema_errors,
)

# -- compose ----------------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification():
    assert schema_errors(compose(), "compose-spec.json") == []


def test_compose_runs_two_web_replicas_behind_a_websocket_proxy_a_worker_and_the_backends():
    services = compose()["services"]
    assert {"proxy", "web", "worker", "migrate", "postgres", "redis", "rabbitmq"} <= set(services)
    assert services["web"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["migrate"]
    proxy = services["proxy"]
    mounted = proxy["volumes"][0].split(":")[0]
    assert (COMPOSE.parent / mounted).resolve() == NGINX_TEMPLATE
    assert proxy["environment"]["SMARTSUPPORT_UPSTREAM"] == f"web:{dockerfile_port()}"
    for name in ("web", "worker", "migrate"):
        environment = services[name]["environment"]
        assert set(environment) <= SETTING_NAMES, "every variable must be a real setting"
        assert "SMARTSUPPORT_SECRET_KEY" in environment and "SMARTSUPPORT_REDIS_URL" in environment
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_every_smartsupport_command_in_the_artifacts_exists():
    services = compose()["services"]
    used = {services[s]["command"][0] for s in ("worker", "migrate")}
    used |= {dockerfile_exec("CMD")[0]}
    for template in ("deployment-web.yaml", "deployment-worker.yaml", "job-migrate.yaml"):
        args = re.search(r"args: \[\"(\w+)\"", (CHART / "templates" / template).read_text())
        assert args is not None
        used.add(args.group(1))
    assert used == {"serve", "worker", "migrate"}
    assert used <= cli_commands()


# -- GitHub Actions -----------------------------------------------------------------------


def test_ci_workflow_follows_the_github_workflow_schema():
    workflow = yaml.load(WORKFLOW.read_text(), Loader=Yaml12Loader)
    assert schema_errors(workflow, "github-workflow.json") == []


def test_ci_lints_types_tests_on_real_services_builds_the_image_and_lints_the_chart():
    jobs = yaml.load(WORKFLOW.read_text(), Loader=Yaml12Loader)["jobs"]
    steps = {
        name: " ".join(str(step.get("run", step.get("uses"))) for step in job["steps"])
        for name, job in jobs.items()
    }
    assert "ruff check" in steps["lint"] and "mypy smartsupport" in steps["lint"]
    assert {"postgres", "redis"} <= set(jobs["test"]["services"])
    assert "pytest" in steps["test"]
    assert "docker/build-push-action" in steps["image"]
    assert jobs["image"]["needs"] == ["lint", "test"]
    assert "helm lint" in steps["chart"]


# -- Helm ---------------------------------------------------------------------------------


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name="support", namespace="prod", is_install=True)
    documents = []
    for name, text in files.items():
        if name.endswith(".yaml"):
            documents += [d for d in yaml.safe_load_all(text) if d]
    return documents


def by_kind(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}


VARIANTS = {
    "defaults": REQUIRED,
    "existing secret, fixed replicas, no ingress": {
        "existingSecret": "smartsupport-prod",
        "web": {"autoscaling": {"enabled": False}, "replicas": 3},
        "ingress": {"enabled": False},
        "models": {"existingClaim": "smartsupport-models"},
    },
    "worker autoscaled, tls": {
        **REQUIRED,
        "worker": {"autoscaling": {"enabled": True}},
        "ingress": {"tls": [{"secretName": "tls", "hosts": ["support.example.com"]}]},
    },
    "web only": {**REQUIRED, "worker": {"enabled": False}, "migration": {"enabled": False}},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rendered_chart_is_valid_kubernetes_in_strict_mode(variant):
    documents = render(VARIANTS[variant])
    assert documents
    for document in documents:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)


def test_chart_lints_clean_with_helm():
    result = helm.lint(str(CHART), REQUIRED, strict=True)
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] >= 2] == []  # warnings and worse


def test_chart_deploys_web_and_worker_with_probes_autoscaling_and_disruption_budgets():
    resources = by_kind(render(REQUIRED))
    web = resources[("Deployment", "support-smartsupport-web")]["spec"]
    container = web["template"]["spec"]["containers"][0]
    assert container["args"] == dockerfile_exec("CMD")
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert web["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in web  # the autoscaler owns it
    pod = web["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsNonRoot"]) == (dockerfile_uid(), True)
    env = {e["name"] for e in container["env"]}
    assert env <= SETTING_NAMES, "every variable must be a real setting"
    worker = resources[("Deployment", "support-smartsupport-worker")]["spec"]
    assert worker["template"]["spec"]["containers"][0]["args"] == ["worker"]
    hpa = resources[("HorizontalPodAutoscaler", "support-smartsupport-web")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "support-smartsupport-web"
    assert hpa["minReplicas"] == 2
    assert resources[("PodDisruptionBudget", "support-smartsupport-web")]["spec"]["minAvailable"]
    assert ("PodDisruptionBudget", "support-smartsupport-worker") in resources
    service = resources[("Service", "support-smartsupport")]["spec"]
    assert service["selector"] == web["selector"]["matchLabels"]


def test_ingress_keeps_websockets_open_and_streams():
    ingress = by_kind(render(REQUIRED))[("Ingress", "support-smartsupport")]
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "support-smartsupport", "port": {"name": "http"}}


def test_migration_job_runs_before_install_and_upgrade_with_the_secret_it_needs():
    resources = by_kind(render(REQUIRED))
    job = resources[("Job", "support-smartsupport-migrate")]
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    secret = resources[("Secret", "support-smartsupport")]
    account = resources[("ServiceAccount", "support-smartsupport")]
    for earlier in (secret, account):  # hooks run before the release's own resources exist
        annotations = earlier["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == hooks["helm.sh/hook"]
        assert int(annotations["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])
    assert set(secret["stringData"]) <= SETTING_NAMES


def test_chart_refuses_to_render_without_the_connection_secrets():
    with pytest.raises(helm.HelmError) as refused:
        render({})
    assert "secret.databaseUrl, secret.redisUrl, secret.secretKey" in str(refused.value)


# -- Terraform ----------------------------------------------------------------------------


def unquote(text: str) -> str:
    return text.strip('"')


def terraform() -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as handle:
            for block, entries in hcl2.load(handle).items():
                if not block.startswith("__"):
                    merged.setdefault(block, []).extend(entries)
    return merged


def outer_keys(expression: str) -> set[str]:
    """The keys of the outermost object in ``${yamlencode({...})}``."""
    start = expression.index("yamlencode(") + len("yamlencode(")
    inner = expression[start : expression.rindex(")")]
    keys, depth = set(), 0
    for index, char in enumerate(inner):
        if char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
        elif depth == 1 and (match := re.match(r"[{,] ?(\w+) = ", inner[index - 1 :])):
            keys.add(match.group(1))
    return keys


def test_terraform_installs_this_chart_with_declared_variables_and_real_values():
    parsed = terraform()
    (release,) = [
        r['"helm_release"']['"smartsupport"'] for r in parsed["resource"] if '"helm_release"' in r
    ]
    chart = unquote(release["chart"]).replace("${path.module}", str(TERRAFORM))
    assert Path(chart).resolve() == CHART
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for setting in release["set_sensitive"]:
        node = values
        for key in unquote(setting["name"]).split("."):
            assert key in node, f"{setting['name']} is not in values.yaml"
            node = node[key]
    assert (
        {"image", "web", "ingress", "settings"} == outer_keys(release["values"][0]) <= set(values)
    )
    declared = {unquote(name) for v in parsed["variable"] for name in v}
    used = set()
    for path in TERRAFORM.glob("*.tf"):
        used |= set(re.findall(r"\bvar\.(\w+)", path.read_text()))
    assert used <= declared
    for variable in parsed["variable"]:
        (spec,) = variable.values()
        assert "description" in spec and "type" in spec
    providers = parsed["terraform"][0]["required_providers"][0]
    assert unquote(providers["helm"]["source"]) == "hashicorp/helm"
