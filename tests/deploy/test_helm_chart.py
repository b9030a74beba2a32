"""The qbsync Helm chart: its values models, its generated schema, and what it renders.

Rendering and linting go through helm-python-sdk (import name ``helm_python``), which binds
Helm's Go SDK: no helm binary and no cluster. Every rendered manifest is checked against the
Kubernetes OpenAPI schemas that kubernetes-validate ships.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "deploy" / "helm" / "qbsync"
SCHEMA_FILE = CHART_DIR / "values.schema.json"
MODELS_SCRIPT = ROOT / "deploy" / "helm" / "schema" / "values.py"

KUBE_VERSION = "1.30"
RELEASE = "qb"
NAMESPACE = "qbsync"
FULLNAME = "qb-qbsync"

# The one value without a usable default: the chart refuses to render without it.
REQUIRED: dict[str, Any] = {"config": {"kafka": {"bootstrapServers": "kafka-0.kafka:9092"}}}
INGRESS: dict[str, Any] = {
    "gateway": {
        "replicas": 3,
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "host": "qbwc.example.com",
            "tlsSecretName": "qbwc-tls",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        },
        "podDisruptionBudget": {"enabled": True},
    }
}
MONITORING: dict[str, Any] = {
    "metrics": {
        "podMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "dashboard": {"enabled": True, "annotations": {"grafana_folder": "QuickBooks"}},
    },
    "gateway": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 8}},
    "worker": {
        "keda": {
            "enabled": True,
            "maxReplicas": 6,
            "prometheusServerAddress": "http://prometheus-operated.monitoring:9090",
        }
    },
}
TLS: dict[str, Any] = {
    "config": {
        "kafka": {
            "securityProtocol": "SSL",
            "tls": {
                "existingSecret": "kafka-client-tls",
                "caKey": "ca.crt",
                "certificateKey": "tls.crt",
                "keyKey": "tls.key",
                "keyPasswordKey": "key-password",
            },
        },
        "database": {"poolSize": 20, "maxOverflow": 5},
    },
    "secrets": {"schemaRegistryUserInfoKey": "schema-registry-user-info"},
}
EVERYTHING: dict[str, Any] = {
    "imagePullSecrets": [{"name": "regcred"}],
    "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": "qbsync@p.iam"}},
    "config": {
        "kafka": {
            "securityProtocol": "SASL_SSL",
            "saslMechanism": "SCRAM-SHA-512",
            "saslUsername": "qbsync",
        },
        "extraEnv": {"QBSYNC_DATABASE_ECHO": "false"},
    },
    "worker": {
        "replicas": 6,
        "scheduling": {
            "nodeSelector": {"pool": "streams"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                }
            ],
        },
    },
    "gateway": {
        "service": {"type": "LoadBalancer", "annotations": {"lb/tls": "on"}},
        "scheduling": {
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {
                                    "matchLabels": {"app.kubernetes.io/component": "gateway"}
                                },
                            },
                        }
                    ]
                }
            }
        },
    },
}


# --------------------------------------------------------------------------- helpers


def _load_models() -> ModuleType:
    """Import deploy/helm/schema/values.py (a script, not a package) under its own name."""
    spec = importlib.util.spec_from_file_location("qbsync_helm_values", MODELS_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


models = _load_models()


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge values layers, later ones winning (as repeated ``-f`` files do)."""
    result: dict[str, Any] = {}
    for layer in layers:
        _merge_into(result, copy.deepcopy(layer))
    return result


def _merge_into(target: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def render(chart: helm.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Render and parse every manifest (NOTES.txt and empty templates left out)."""
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def notes(chart: helm.Chart, values: dict[str, Any]) -> str:
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return rendered["qbsync/templates/NOTES.txt"]


def index(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    indexed = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}
    assert len(indexed) == len(docs), "two manifests share a kind and name"
    return indexed


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_by_name(ctr: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in ctr.get("env", [])}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def default_docs(chart: helm.Chart) -> dict[tuple[str, str], dict[str, Any]]:
    return index(render(chart, REQUIRED))


@pytest.fixture(scope="module")
def ingress_docs(chart: helm.Chart) -> dict[tuple[str, str], dict[str, Any]]:
    return index(render(chart, merged(REQUIRED, INGRESS)))


# --------------------------------------------------------------------------- schema and models


def test_committed_schema_matches_models() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == models.render_schema(), (
        "values.schema.json is stale: run python deploy/helm/schema/values.py"
    )


def test_generator_check_mode(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, str(MODELS_SCRIPT), "--check"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr

    stale = tmp_path / "values.schema.json"
    stale.write_text('{"type": "object"}\n', encoding="utf-8")
    check = [sys.executable, str(MODELS_SCRIPT), "--check", "--output", str(stale)]
    result = subprocess.run(check, capture_output=True, text=True)
    assert result.returncode == 1
    assert "stale" in result.stderr

    write = subprocess.run(
        [sys.executable, str(MODELS_SCRIPT), "--output", str(stale)], capture_output=True
    )
    assert write.returncode == 0
    assert stale.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")
    assert subprocess.run(check, capture_output=True).returncode == 0


def test_chart_ships_the_schema(chart: helm.Chart) -> None:
    assert chart.schema == yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert chart.schema is not None
    assert chart.schema["additionalProperties"] is False


def test_values_yaml_parses_into_model_and_equals_its_defaults() -> None:
    values_yaml = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    parsed = models.QbsyncValues.model_validate(values_yaml)
    assert parsed == models.QbsyncValues()
    defaults = models.QbsyncValues().model_dump(by_alias=True, mode="json", exclude_none=True)
    assert values_yaml == defaults, "values.yaml and the models' defaults have drifted apart"


def test_chart_values_are_values_yaml(chart: helm.Chart) -> None:
    assert chart.values == yaml.safe_load((CHART_DIR / "values.yaml").read_text("utf-8"))
    assert chart.metadata["appVersion"] == "0.1.0"
    assert chart.version == "0.1.0"


@pytest.mark.parametrize(
    ("values", "typo"),
    [
        ({"gateway": {"replica": 3}}, "replica"),
        ({"imagee": {"tag": "1.0"}}, "imagee"),
        ({"config": {"kafka": {"bootstrapServer": "k:9092"}}}, "bootstrapServer"),
        ({"gateway": {"ingress": {"tls": True}}}, "tls"),
        ({"worker": {"resources": {"limits": {"cpus": "1"}}}}, "cpus"),
    ],
)
def test_typo_key_is_rejected(chart: helm.Chart, values: dict[str, Any], typo: str) -> None:
    with pytest.raises(ValidationError) as caught:
        models.QbsyncValues.model_validate(values)
    errors = caught.value.errors()
    assert [e["type"] for e in errors] == ["extra_forbidden"]
    assert errors[0]["loc"][-1] == typo

    # Helm rejects it too, through values.schema.json.
    with pytest.raises(helm.HelmValuesError, match=f"additional properties '{typo}' not allowed"):
        chart.render(merged(REQUIRED, values), name=RELEASE)


@pytest.mark.parametrize(
    ("values", "model_error", "helm_error"),
    [
        pytest.param(
            {"worker": {"replicas": 7}},
            r"worker\.replicas \(7\) exceeds config\.topics\.eventsPartitions \(6\)",
            r"worker\.replicas \(7\) exceeds config\.topics\.eventsPartitions \(6\)",
            id="workers-beyond-partitions",
        ),
        pytest.param(
            {"gateway": {"ingress": {"enabled": True}}},
            "ingress.host is required",
            "/gateway/ingress/host",
            id="ingress-without-host",
        ),
        pytest.param(
            {"config": {"kafka": {"securityProtocol": "SASL_SSL"}}},
            "needs a saslMechanism",
            "/config/kafka/saslMechanism",
            id="sasl-without-mechanism",
        ),
        pytest.param(
            {"config": {"extraEnv": {"QBSYNC_DATABASE_URL": "postgresql://leak"}}},
            "may not set QBSYNC_DATABASE_URL",
            "config.extraEnv.QBSYNC_DATABASE_URL is set by the chart",
            id="secret-through-extra-env",
        ),
        pytest.param(
            {"config": {"extraEnv": {"DATABASE_URL": "x"}}},
            "String should match pattern",
            "/config/extraEnv",
            id="extra-env-without-prefix",
        ),
        pytest.param(
            {"worker": {"resources": {"requests": {"memory": "lots"}}}},
            "String should match pattern",
            "/worker/resources/requests/memory",
            id="bad-quantity",
        ),
        pytest.param(
            {"config": {"gateway": {"processes": 0}}},
            "greater than or equal to 1",
            "/config/gateway/processes",
            id="no-gateway-process",
        ),
    ],
)
def test_cross_field_rules(
    chart: helm.Chart, values: dict[str, Any], model_error: str, helm_error: str
) -> None:
    with pytest.raises(ValidationError, match=model_error):
        models.QbsyncValues.model_validate(values)
    with pytest.raises(helm.HelmError, match=helm_error):
        chart.render(merged(REQUIRED, values), name=RELEASE)


# --------------------------------------------------------------------------- rendering


def test_bootstrap_servers_are_required(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match=r"config\.kafka\.bootstrapServers is required"):
        chart.render(None, name=RELEASE, namespace=NAMESPACE)


def test_default_render(default_docs: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert set(default_docs) == {
        ("ConfigMap", f"{FULLNAME}-config"),
        ("ServiceAccount", FULLNAME),
        ("ServiceAccount", f"{FULLNAME}-migration"),
        ("Deployment", f"{FULLNAME}-worker"),
        ("Deployment", f"{FULLNAME}-gateway"),
        ("Service", f"{FULLNAME}-gateway"),
        ("Job", f"{FULLNAME}-migration"),
    }

    gateway = default_docs[("Deployment", f"{FULLNAME}-gateway")]
    worker = default_docs[("Deployment", f"{FULLNAME}-worker")]
    job = default_docs[("Job", f"{FULLNAME}-migration")]
    assert gateway["spec"]["replicas"] == 2
    assert worker["spec"]["replicas"] == 1

    gw = container(gateway)
    assert gw["command"] + gw["args"] == [
        "qbsync",
        "gateway",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    assert container(worker)["command"] + container(worker)["args"] == ["qbsync", "worker"]
    assert container(job)["command"] + container(job)["args"] == ["qbsync", "db", "upgrade"]
    for workload in (gateway, worker, job):
        assert container(workload)["image"] == "qbsync:0.1.0"


def test_secrets_come_from_the_existing_secret(
    default_docs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for kind, name in [
        ("Deployment", f"{FULLNAME}-gateway"),
        ("Deployment", f"{FULLNAME}-worker"),
        ("Job", f"{FULLNAME}-migration"),
    ]:
        env = env_by_name(container(default_docs[(kind, name)]))
        assert env["QBSYNC_DATABASE_URL"] == {
            "name": "QBSYNC_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "qbsync-secrets", "key": "database-url"}},
        }
        # No SASL mechanism configured: the password key is not required to exist.
        assert "QBSYNC_KAFKA_SASL_PASSWORD" not in env

    data = default_docs[("ConfigMap", f"{FULLNAME}-config")]["data"]
    assert "QBSYNC_DATABASE_URL" not in data
    assert "QBSYNC_KAFKA_SASL_PASSWORD" not in data
    assert data["QBSYNC_KAFKA_BOOTSTRAP_SERVERS"] == "kafka-0.kafka:9092"
    assert set(data) == {
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS",
        "QBSYNC_KAFKA_SECURITY_PROTOCOL",
        "QBSYNC_KAFKA_SASL_MECHANISM",
        "QBSYNC_KAFKA_SASL_USERNAME",
        "QBSYNC_TOPIC_PREFIX",
        "QBSYNC_TOPIC_EVENTS_PARTITIONS",
        "QBSYNC_TOPIC_RESULTS_PARTITIONS",
        "QBSYNC_GATEWAY_PUBLIC_URL",
        "QBSYNC_GATEWAY_BATCH_SIZE",
        "QBSYNC_GATEWAY_THREADS",
        "QBSYNC_GATEWAY_PROCESSES",
        "QBSYNC_DATABASE_POOL_SIZE",
        "QBSYNC_DATABASE_MAX_OVERFLOW",
        "QBSYNC_DATA_DIR",
    }


def test_pods_read_config_from_the_configmap(
    default_docs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    configmap = default_docs[("ConfigMap", f"{FULLNAME}-config")]
    for name in ("gateway", "worker"):
        ctr = container(default_docs[("Deployment", f"{FULLNAME}-{name}")])
        assert ctr["envFrom"] == [{"configMapRef": {"name": f"{FULLNAME}-config"}}]

    # The hook runs before the ConfigMap exists on a first install: same settings, inline.
    job_ctr = container(default_docs[("Job", f"{FULLNAME}-migration")])
    assert "envFrom" not in job_ctr
    inline = {k: v["value"] for k, v in env_by_name(job_ctr).items() if "value" in v}
    assert inline == configmap["data"]


def test_migration_is_a_pre_install_pre_upgrade_hook(
    default_docs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    job = default_docs[("Job", f"{FULLNAME}-migration")]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"

    # Its ServiceAccount is a hook created before it, as the release's is not there yet.
    account = default_docs[("ServiceAccount", f"{FULLNAME}-migration")]
    sa_annotations = account["metadata"]["annotations"]
    assert sa_annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(sa_annotations["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == f"{FULLNAME}-migration"
    assert "helm.sh/hook" not in default_docs[("ServiceAccount", FULLNAME)]["metadata"].get(
        "annotations", {}
    )


def test_existing_service_account_is_used_everywhere(chart: helm.Chart) -> None:
    docs = index(
        render(chart, merged(REQUIRED, {"serviceAccount": {"create": False, "name": "ops"}}))
    )
    assert not [key for key in docs if key[0] == "ServiceAccount"]
    for key in docs:
        if key[0] in {"Deployment", "Job"}:
            assert docs[key]["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


def test_probes_ports_and_scrape_annotations(
    default_docs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    gateway = default_docs[("Deployment", f"{FULLNAME}-gateway")]
    gw = container(gateway)
    assert gw["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert gw["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gw["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}

    worker = default_docs[("Deployment", f"{FULLNAME}-worker")]
    wk = container(worker)
    assert wk["ports"] == [{"name": "metrics", "containerPort": 6066, "protocol": "TCP"}]
    assert wk["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert env_by_name(wk)["QBSYNC_WORKER_WEB_PORT"]["value"] == "6066"

    for workload, port in ((gateway, "8080"), (worker, "6066")):
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == port
        assert annotations["prometheus.io/path"] == "/metrics"
        assert len(annotations["checksum/config"]) == 64

    service = default_docs[("Service", f"{FULLNAME}-gateway")]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == gateway["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] != worker["spec"]["selector"]["matchLabels"]


def test_scrape_annotations_can_be_turned_off(chart: helm.Chart) -> None:
    docs = index(render(chart, merged(REQUIRED, {"metrics": {"scrapeAnnotations": False}})))
    annotations = docs[("Deployment", f"{FULLNAME}-gateway")]["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert not [key for key in annotations if key.startswith("prometheus.io/")]


def test_pods_are_locked_down(default_docs: dict[tuple[str, str], dict[str, Any]]) -> None:
    for kind, name in [
        ("Deployment", f"{FULLNAME}-gateway"),
        ("Deployment", f"{FULLNAME}-worker"),
        ("Job", f"{FULLNAME}-migration"),
    ]:
        pod = default_docs[(kind, name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        ctr = container(default_docs[(kind, name)])
        assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
        assert ctr["securityContext"]["allowPrivilegeEscalation"] is False
        assert ctr["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert ctr["resources"]["requests"]["cpu"]
        assert ctr["resources"]["limits"]["memory"]
        # The read-only root filesystem needs writable scratch space for the data dir and /tmp.
        mounts = {m["mountPath"] for m in ctr["volumeMounts"]}
        assert mounts == {"/var/lib/qbsync", "/tmp"}


def test_ingress_render(ingress_docs: dict[tuple[str, str], dict[str, Any]]) -> None:
    gateway_name = f"{FULLNAME}-gateway"
    assert ("Ingress", gateway_name) in ingress_docs
    assert ("PodDisruptionBudget", gateway_name) in ingress_docs
    assert ingress_docs[("Deployment", gateway_name)]["spec"]["replicas"] == 3

    ingress = ingress_docs[("Ingress", gateway_name)]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["qbwc.example.com"], "secretName": "qbwc-tls"}]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "qbwc.example.com"
    # Every public path: the SOAP endpoint and the .qwc's AppSupport page.
    paths = rule["http"]["paths"]
    assert [path["path"] for path in paths] == ["/qbwc", "/support"]
    for path in paths:
        assert path["backend"]["service"] == {"name": gateway_name, "port": {"name": "http"}}
    service_ports = ingress_docs[("Service", gateway_name)]["spec"]["ports"]
    assert [p["name"] for p in service_ports] == ["http"]

    data = ingress_docs[("ConfigMap", f"{FULLNAME}-config")]["data"]
    assert data["QBSYNC_GATEWAY_PUBLIC_URL"] == "https://qbwc.example.com/qbwc"

    pdb = ingress_docs[("PodDisruptionBudget", gateway_name)]
    assert pdb["spec"]["maxUnavailable"] == 1
    gateway = ingress_docs[("Deployment", gateway_name)]
    assert pdb["spec"]["selector"] == gateway["spec"]["selector"]


def test_notes_name_the_https_url(chart: helm.Chart) -> None:
    assert "AppURL (put it in the .qwc file): https://qbwc.example.com/qbwc" in notes(
        chart, merged(REQUIRED, INGRESS)
    )
    assert "not exposed over HTTPS" in notes(chart, REQUIRED)


def test_sasl_password_comes_from_the_secret(chart: helm.Chart) -> None:
    docs = index(render(chart, merged(REQUIRED, EVERYTHING)))
    for kind, name in [
        ("Deployment", f"{FULLNAME}-gateway"),
        ("Deployment", f"{FULLNAME}-worker"),
        ("Job", f"{FULLNAME}-migration"),
    ]:
        env = env_by_name(container(docs[(kind, name)]))
        assert env["QBSYNC_KAFKA_SASL_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {"name": "qbsync-secrets", "key": "kafka-sasl-password"}
        }
    data = docs[("ConfigMap", f"{FULLNAME}-config")]["data"]
    assert data["QBSYNC_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert data["QBSYNC_DATABASE_ECHO"] == "false"
    worker_pod = docs[("Deployment", f"{FULLNAME}-worker")]["spec"]["template"]["spec"]
    (spread,) = worker_pod["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"


def test_components_can_be_disabled(chart: helm.Chart) -> None:
    values = merged(
        REQUIRED,
        INGRESS,
        {
            "worker": {"enabled": False},
            "gateway": {"enabled": False},
            "migration": {"enabled": False},
        },
    )
    kinds = {kind for kind, _ in index(render(chart, values))}
    assert kinds == {"ConfigMap", "ServiceAccount"}


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(REQUIRED, id="defaults"),
        pytest.param(merged(REQUIRED, INGRESS), id="ingress-3-gateways"),
        pytest.param(merged(REQUIRED, INGRESS, EVERYTHING), id="everything"),
        pytest.param(merged(REQUIRED, INGRESS, TLS), id="kafka-mtls"),
        pytest.param(
            merged(REQUIRED, {"serviceAccount": {"create": False}}), id="existing-service-account"
        ),
    ],
)
def test_every_manifest_is_valid_kubernetes(chart: helm.Chart, values: dict[str, Any]) -> None:
    docs = render(chart, values)
    assert docs
    for doc in docs:
        # strict: unknown fields are errors too.
        assert kubernetes_validate.validate(doc, KUBE_VERSION, strict=True) == KUBE_VERSION


def test_kubernetes_validation_would_catch_a_broken_manifest(
    default_docs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    broken = copy.deepcopy(default_docs[("Deployment", f"{FULLNAME}-gateway")])
    broken["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


# --------------------------------------------------------------------------- lint and schema


def test_helm_lint_is_clean() -> None:
    report = helm.lint(CHART_DIR, REQUIRED, strict=True, kube_version=f"v{KUBE_VERSION}.0")
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # Severity 2 is a warning, 3 an error; only infos ("icon is recommended") may remain.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_helm_lint_reports_bad_values() -> None:
    report = helm.lint(CHART_DIR, merged(REQUIRED, {"gateway": {"replicas": "three"}}))
    assert report["errors"]
    assert any("/gateway/replicas" in m["error"] for m in report["messages"] if m["severity"] == 3)


def test_invalid_value_is_rejected_by_the_schema(chart: helm.Chart, tmp_path: Path) -> None:
    bad = merged(REQUIRED, {"gateway": {"replicas": "three"}})
    with pytest.raises(helm.HelmValuesError, match="/gateway/replicas': got string, want integer"):
        chart.render(bad, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(helm.HelmValuesError, match="/gateway/replicas"):
        chart.validate_schema(bad)
    chart.validate_schema(REQUIRED)  # passes: the failure above is about the value

    # Without values.schema.json, the same value renders a Deployment Kubernetes would refuse:
    # the schema is what stops it.
    unschemed = tmp_path / "qbsync"
    shutil.copytree(CHART_DIR, unschemed)
    (unschemed / "values.schema.json").unlink()
    with helm.Chart.load(unschemed) as loose:
        assert loose.schema is None
        docs = index(render(loose, bad))
    gateway = docs[("Deployment", f"{FULLNAME}-gateway")]
    assert gateway["spec"]["replicas"] == "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(gateway, KUBE_VERSION, strict=True)


# --------------------------------------------------------------------------- operations (issue 17)

CRD_KINDS = {"PodMonitor", "PrometheusRule", "ScaledObject"}


def test_monitoring_scaling_and_dashboard_are_off_by_default(
    default_docs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    kinds = {kind for kind, _ in default_docs}
    assert not kinds & (CRD_KINDS | {"HorizontalPodAutoscaler"})
    assert ("ConfigMap", f"{FULLNAME}-dashboard") not in default_docs


def test_monitoring_on_renders_rules_monitor_dashboard_and_scalers(chart: helm.Chart) -> None:
    docs = index(render(chart, merged(REQUIRED, MONITORING)))
    rule = docs[("PrometheusRule", FULLNAME)]
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    shipped = yaml.safe_load((CHART_DIR / "files/prometheus-rules.yaml").read_text())
    assert rule["spec"] == shipped  # the promtool-tested file, unchanged
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert {"QbsyncBacklogTooOld", "QbsyncBrokerUnreachable", "QbsyncGatewayErrors"} <= alerts

    monitor = docs[("PodMonitor", FULLNAME)]
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"metrics", "http"}
    worker = docs[("Deployment", f"{FULLNAME}-worker")]
    gateway = docs[("Deployment", f"{FULLNAME}-gateway")]
    ports = {p["name"] for d in (worker, gateway) for p in container(d)["ports"]}
    assert ports == {"metrics", "http"}
    expressions = {e["key"]: e["values"] for e in monitor["spec"]["selector"]["matchExpressions"]}
    assert expressions["app.kubernetes.io/instance"] == [RELEASE]

    board = docs[("ConfigMap", f"{FULLNAME}-dashboard")]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert board["metadata"]["annotations"] == {"grafana_folder": "QuickBooks"}
    shipped_board = (CHART_DIR / "files/grafana-dashboard.json").read_text()
    assert json.loads(board["data"]["qbsync.json"]) == json.loads(shipped_board)

    hpa = docs[("HorizontalPodAutoscaler", f"{FULLNAME}-gateway")]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    assert hpa["spec"]["scaleTargetRef"]["name"] == gateway["metadata"]["name"]
    assert "replicas" not in gateway["spec"]  # the HPA owns it

    scaled = docs[("ScaledObject", f"{FULLNAME}-worker")]
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    assert "qbsync_worker_consumer_lag_messages" in trigger["metadata"]["query"]
    assert "replicas" not in worker["spec"]

    for doc in docs.values():
        if doc["kind"] not in CRD_KINDS:
            assert kubernetes_validate.validate(doc, KUBE_VERSION, strict=True) == KUBE_VERSION


def test_keda_may_not_scale_past_the_partitions(chart: helm.Chart) -> None:
    too_many = merged(REQUIRED, MONITORING, {"worker": {"keda": {"maxReplicas": 7}}})
    with pytest.raises(ValidationError, match="maxReplicas"):
        models.QbsyncValues.model_validate(too_many)
    with pytest.raises(helm.HelmError, match=r"exceeds config\.topics\.eventsPartitions"):
        render(chart, too_many)


def test_worker_probes_its_consumer_and_listens_for_the_kubelet(
    default_docs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    worker = container(default_docs[("Deployment", f"{FULLNAME}-worker")])
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert env_by_name(worker)["QBSYNC_WORKER_WEB_HOST"]["value"] == "0.0.0.0"


def test_kafka_mtls_and_registry_credentials_come_from_existing_secrets(
    chart: helm.Chart,
) -> None:
    docs = index(render(chart, merged(REQUIRED, TLS)))
    data = docs[("ConfigMap", f"{FULLNAME}-config")]["data"]
    assert data["QBSYNC_KAFKA_SSL_CA_LOCATION"] == "/etc/qbsync/kafka-tls/ca.crt"
    assert data["QBSYNC_KAFKA_SSL_CERTIFICATE_LOCATION"] == "/etc/qbsync/kafka-tls/tls.crt"
    assert data["QBSYNC_KAFKA_SSL_KEY_LOCATION"] == "/etc/qbsync/kafka-tls/tls.key"
    assert (data["QBSYNC_DATABASE_POOL_SIZE"], data["QBSYNC_DATABASE_MAX_OVERFLOW"]) == ("20", "5")
    for name in ("worker", "gateway"):
        workload = docs[("Deployment", f"{FULLNAME}-{name}")]
        ctr = container(workload)
        env = env_by_name(ctr)
        assert env["QBSYNC_KAFKA_SSL_KEY_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "kafka-client-tls",
            "key": "key-password",
        }
        assert env["QBSYNC_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"]["valueFrom"]["secretKeyRef"] == {
            "name": "qbsync-secrets",
            "key": "schema-registry-user-info",
        }
        mounts = {m["name"]: m for m in ctr["volumeMounts"]}
        assert mounts["kafka-tls"] == {
            "name": "kafka-tls",
            "mountPath": "/etc/qbsync/kafka-tls",
            "readOnly": True,
        }
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        assert volumes["kafka-tls"]["secret"]["secretName"] == "kafka-client-tls"
    # No secret value is ever in the ConfigMap.
    assert not any("password" in key.lower() or "user_info" in key.lower() for key in data)


def test_kafka_tls_files_need_a_tls_protocol() -> None:
    plain = merged(REQUIRED, {"config": {"kafka": {"tls": {"existingSecret": "kafka-tls"}}}})
    with pytest.raises(ValidationError, match="SSL or SASL_SSL"):
        models.QbsyncValues.model_validate(plain)
