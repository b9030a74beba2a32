"""Typed models of the qbsync Helm chart's values, and the generator of ``values.schema.json``.

The models are the single source of truth for the shape of ``deploy/helm/qbsync/values.yaml``:
every object forbids unknown keys, so a typo such as ``gateway.replica`` is rejected, both here
and by Helm itself, which validates every install, upgrade, template and lint against the
generated ``values.schema.json``.

    python deploy/helm/schema/values.py           # (re)write values.schema.json
    python deploy/helm/schema/values.py --check   # exit 1 if the committed file is stale

Cross-field rules that JSON Schema can express (an enabled Ingress needs a host, a SASL
security protocol needs a mechanism) are added to the schema as ``if``/``then``; the one it
cannot (worker replicas at most the events topic's partitions) is checked by the model and,
at render time, by the chart's templates.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

__all__ = [
    "RESERVED_ENV",
    "SCHEMA_PATH",
    "QbsyncValues",
    "main",
    "render_schema",
]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "qbsync" / "values.schema.json"
"""Where the chart keeps the generated schema (Helm reads it from the chart's root)."""

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# A Kubernetes resource quantity ("250m", "512Mi", "1"), as a string or a plain number.
Quantity = (
    Annotated[
        str,
        StringConstraints(
            pattern=r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$"
        ),
    ]
    | int
    | float
)
# An absolute count or a percentage ("25%"), as in a PodDisruptionBudget or rolling update.
IntOrPercent = Annotated[int, Field(ge=0)] | Annotated[str, StringConstraints(pattern=r"^[0-9]+%$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^QBSYNC_[A-Z0-9_]+$")]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Model(BaseModel):
    """Base of every values object: camelCase keys (as Helm values are), no unknown keys."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        validate_default=True,
    )


# --------------------------------------------------------------------------- shared pieces


class Image(_Model):
    """The one container image every qbsync process runs from (console script ``qbsync``)."""

    repository: str = Field(default="qbsync", min_length=1, description="Image repository.")
    tag: str = Field(
        default="",
        description="Image tag; empty means the chart's appVersion.",
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Kubernetes imagePullPolicy."
    )


class LocalObjectReference(_Model):
    """A reference to an object in the release's namespace, by name."""

    name: str = Field(min_length=1, description="Name of the referenced object.")


class ServiceAccount(_Model):
    """The ServiceAccount the qbsync pods run as. qbsync does not call the Kubernetes API."""

    create: bool = Field(default=True, description="Create a ServiceAccount for the release.")
    name: str = Field(
        default="",
        description="Name to use; empty means the release's full name. Must already exist "
        "when create is false.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations on the ServiceAccount (e.g. a cloud workload identity).",
    )
    automount_service_account_token: bool = Field(
        default=False,
        description="Mount an API token into the pods; qbsync needs none.",
    )


class PodSecurity(_Model):
    """Pod-level user and group ids. The chart always sets runAsNonRoot, a read-only root
    filesystem, no privilege escalation, all capabilities dropped and the RuntimeDefault
    seccomp profile."""

    run_as_user: int = Field(default=10001, ge=1, description="UID of the processes (non-root).")
    run_as_group: int = Field(default=10001, ge=1, description="GID of the processes.")
    fs_group: int = Field(default=10001, ge=1, description="Group owning mounted volumes.")


class ResourceList(_Model):
    """Kubernetes resource quantities."""

    cpu: Quantity | None = Field(default=None, description='CPU, e.g. "250m".')
    memory: Quantity | None = Field(default=None, description='Memory, e.g. "512Mi".')
    ephemeral_storage: Quantity | None = Field(
        default=None, alias="ephemeral-storage", description='Scratch disk, e.g. "1Gi".'
    )


class Resources(_Model):
    """Container resource requests and limits."""

    requests: ResourceList = Field(
        default_factory=ResourceList, description="What the scheduler reserves."
    )
    limits: ResourceList = Field(default_factory=ResourceList, description="Hard caps.")


class ProbeTiming(_Model):
    """Timing of a probe; what the probe checks is fixed by the chart."""

    initial_delay_seconds: int = Field(
        default=10, ge=0, description="Delay before the first probe."
    )
    period_seconds: int = Field(default=10, ge=1, description="Seconds between probes.")
    timeout_seconds: int = Field(default=3, ge=1, description="Seconds before a probe times out.")
    failure_threshold: int = Field(default=3, ge=1, description="Failures before acting.")


class Scheduling(_Model):
    """Where and how the pods of one process are placed; Kubernetes objects passed verbatim."""

    node_selector: dict[str, str] = Field(default_factory=dict, description="Pod nodeSelector.")
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, description="Pod tolerations (Kubernetes Toleration objects)."
    )
    affinity: dict[str, Any] = Field(
        default_factory=dict, description="Pod affinity (a Kubernetes Affinity object)."
    )
    topology_spread_constraints: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Pod topologySpreadConstraints; the chart fills in the labelSelector "
        "when an entry has none.",
    )


# --------------------------------------------------------------------------- configuration


class KafkaConfig(_Model):
    """``QBSYNC_KAFKA_*``. The SASL password comes from the Secret (see ``secrets``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "properties": {"securityProtocol": {"enum": ["SASL_PLAINTEXT", "SASL_SSL"]}},
                "required": ["securityProtocol"],
            },
            "then": {"properties": {"saslMechanism": {"minLength": 1}}},
        }
    )

    bootstrap_servers: str = Field(
        default="",
        description="QBSYNC_KAFKA_BOOTSTRAP_SERVERS: comma-separated host:port list. Required "
        "to render the chart (empty would make every pod start its own embedded broker).",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="QBSYNC_KAFKA_SECURITY_PROTOCOL."
    )
    sasl_mechanism: Literal[
        "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"
    ] = Field(
        default="",
        description="QBSYNC_KAFKA_SASL_MECHANISM; when set, the pods also read "
        "QBSYNC_KAFKA_SASL_PASSWORD from the Secret.",
    )
    sasl_username: str = Field(default="", description="QBSYNC_KAFKA_SASL_USERNAME.")
    tls: "KafkaTls" = Field(
        default_factory=lambda: KafkaTls(), description="TLS / mutual TLS files from a Secret."
    )

    @model_validator(mode="after")
    def _sasl_needs_mechanism(self) -> "KafkaConfig":
        if self.security_protocol.startswith("SASL_") and not self.sasl_mechanism:
            raise ValueError(f"securityProtocol {self.security_protocol} needs a saslMechanism")
        if self.tls.existing_secret and self.security_protocol not in {"SSL", "SASL_SSL"}:
            raise ValueError("config.kafka.tls needs securityProtocol SSL or SASL_SSL")
        return self


class KafkaTls(_Model):
    """PEM files for Kafka TLS from an existing Secret, mounted read-only at
    /etc/qbsync/kafka-tls (QBSYNC_KAFKA_SSL_*_LOCATION). A client certificate and key make it
    mutual TLS."""

    existing_secret: str = Field(
        default="",
        pattern=r"^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Secret with the files; empty: no TLS files (the system CAs).",
    )
    ca_key: str = Field(default="ca.crt", description="Key of the CA certificate; empty: none.")
    certificate_key: str = Field(
        default="", description="Key of the client certificate (mutual TLS); empty: none."
    )
    key_key: str = Field(default="", description="Key of the client's private key.")
    key_password_key: str = Field(
        default="",
        description="Key of the private key's password (QBSYNC_KAFKA_SSL_KEY_PASSWORD); empty: "
        "the key is not encrypted.",
    )


class TopicsConfig(_Model):
    """``QBSYNC_TOPIC_*``: topic naming and sizing."""

    prefix: str = Field(
        default="qbsync",
        min_length=1,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="QBSYNC_TOPIC_PREFIX: every topic name starts with it.",
    )
    events_partitions: int = Field(
        default=6,
        ge=1,
        description="QBSYNC_TOPIC_EVENTS_PARTITIONS and QBSYNC_TOPIC_RESULTS_PARTITIONS: "
        "partitions of the events and results topics (always equal: the worker's parking "
        "table is partitioned like both); worker.replicas may not exceed it (extra workers "
        "would sit idle).",
    )


class GatewayConfig(_Model):
    """``QBSYNC_GATEWAY_*`` settings of the Web Connector gateway."""

    public_url: str = Field(
        default="",
        description="QBSYNC_GATEWAY_PUBLIC_URL: the HTTPS URL the Web Connector calls. Empty: "
        "https://<gateway.ingress.host>/qbwc when the Ingress is enabled.",
    )
    batch_size: int = Field(
        default=25, ge=1, le=500, description="QBSYNC_GATEWAY_BATCH_SIZE: requests per qbXML batch."
    )
    threads: int = Field(
        default=8, ge=1, description="QBSYNC_GATEWAY_THREADS: WSGI threads per pod."
    )
    processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="QBSYNC_GATEWAY_PROCESSES: gateway processes per pod, sharing its port "
        "(each has the threads above). A Python process uses at most one core (the GIL): "
        "with more than one, request as many CPUs for the pod (gateway.resources).",
    )


# Set by the chart from its own values or from the Secret; config.extraEnv may not set them.
RESERVED_ENV = frozenset(
    {
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS",
        "QBSYNC_KAFKA_SECURITY_PROTOCOL",
        "QBSYNC_KAFKA_SASL_MECHANISM",
        "QBSYNC_KAFKA_SASL_USERNAME",
        "QBSYNC_KAFKA_SASL_PASSWORD",
        "QBSYNC_DATABASE_URL",
        "QBSYNC_TOPIC_PREFIX",
        "QBSYNC_TOPIC_EVENTS_PARTITIONS",
        "QBSYNC_TOPIC_RESULTS_PARTITIONS",
        "QBSYNC_GATEWAY_PUBLIC_URL",
        "QBSYNC_GATEWAY_BATCH_SIZE",
        "QBSYNC_GATEWAY_THREADS",
        "QBSYNC_GATEWAY_PROCESSES",
        "QBSYNC_DATA_DIR",
        "QBSYNC_WORKER_WEB_PORT",
        "QBSYNC_WORKER_WEB_HOST",
        "QBSYNC_KAFKA_SSL_CA_LOCATION",
        "QBSYNC_KAFKA_SSL_CERTIFICATE_LOCATION",
        "QBSYNC_KAFKA_SSL_KEY_LOCATION",
        "QBSYNC_KAFKA_SSL_KEY_PASSWORD",
        "QBSYNC_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        "QBSYNC_DATABASE_POOL_SIZE",
        "QBSYNC_DATABASE_MAX_OVERFLOW",
    }
)


class DatabaseConfig(_Model):
    """``QBSYNC_DATABASE_*`` besides the URL (which is secret)."""

    pool_size: int = Field(
        default=5, ge=1, le=200, description="QBSYNC_DATABASE_POOL_SIZE: connections per process."
    )
    max_overflow: int = Field(
        default=10,
        ge=0,
        le=200,
        description="QBSYNC_DATABASE_MAX_OVERFLOW: connections a process may open beyond the pool.",
    )


class Config(_Model):
    """Non-secret settings, rendered into a ConfigMap the pods read as environment."""

    kafka: KafkaConfig = Field(default_factory=KafkaConfig, description="Kafka connection.")
    topics: TopicsConfig = Field(default_factory=TopicsConfig, description="Kafka topics.")
    gateway: GatewayConfig = Field(default_factory=GatewayConfig, description="The gateway.")
    database: DatabaseConfig = Field(
        default_factory=DatabaseConfig, description="Database connection pools."
    )
    data_dir: str = Field(
        default="/var/lib/qbsync",
        pattern=r"^/.*",
        description="QBSYNC_DATA_DIR: an absolute path; the chart mounts a writable emptyDir "
        "there (the root filesystem is read-only).",
    )
    extra_env: dict[EnvName, str] = Field(
        default_factory=dict,
        description="More QBSYNC_* settings for the ConfigMap. Never secrets: those belong in "
        "the Secret.",
        # patternProperties alone would let other keys through; the model rejects them too.
        json_schema_extra={"additionalProperties": False},
    )

    @model_validator(mode="after")
    def _extra_env_not_reserved(self) -> "Config":
        clash = sorted(RESERVED_ENV.intersection(self.extra_env))
        if clash:
            raise ValueError(
                f"config.extraEnv may not set {', '.join(clash)}: the chart sets them from "
                "their own values or from the Secret"
            )
        return self


class Secrets(_Model):
    """Where the secret settings come from: a Secret that exists before the install. The
    chart never creates it and values never hold secret values."""

    existing_secret: str = Field(
        default="qbsync-secrets",
        min_length=1,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Name of the existing Secret in the release namespace.",
    )
    database_url_key: str = Field(
        default="database-url",
        min_length=1,
        description="Key in the Secret holding QBSYNC_DATABASE_URL (an SQLAlchemy URL).",
    )
    kafka_sasl_password_key: str = Field(
        default="kafka-sasl-password",
        min_length=1,
        description="Key in the Secret holding QBSYNC_KAFKA_SASL_PASSWORD; read only when "
        "config.kafka.saslMechanism is set.",
    )
    schema_registry_user_info_key: str = Field(
        default="",
        description="Key in the Secret holding QBSYNC_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO "
        "(user:password); empty: the registry needs no credential.",
    )


class PodMonitor(_Model):
    """A Prometheus Operator PodMonitor scraping the worker and gateway pods' /metrics."""

    enabled: bool = Field(default=False, description="Create the PodMonitor (needs its CRD).")
    interval: str = Field(
        default="30s", pattern=r"^[0-9]+(ms|s|m|h)$", description="Scrape interval."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels your Prometheus selects PodMonitors by."
    )


class PrometheusRule(_Model):
    """qbsync's alert rules (files/prometheus-rules.yaml) as a PrometheusRule."""

    enabled: bool = Field(default=False, description="Create the PrometheusRule (needs its CRD).")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels your Prometheus selects rules by."
    )


class Dashboard(_Model):
    """The Grafana dashboard (files/grafana-dashboard.json) in a ConfigMap that Grafana's
    dashboard sidecar loads."""

    enabled: bool = Field(default=False, description="Create the dashboard ConfigMap.")
    labels: dict[str, str] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        description="Labels the sidecar watches for (its `label`, default grafana_dashboard).",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="e.g. {grafana_folder: QuickBooks} for the folder."
    )


class Metrics(_Model):
    """Prometheus scraping of the pods' /metrics, alert rules and the dashboard."""

    scrape_annotations: bool = Field(
        default=True,
        description="Add prometheus.io/scrape, /port and /path annotations to the worker and "
        "gateway pods.",
    )
    pod_monitor: PodMonitor = Field(default_factory=PodMonitor, description="The PodMonitor.")
    prometheus_rule: PrometheusRule = Field(
        default_factory=PrometheusRule, description="The alert rules."
    )
    dashboard: Dashboard = Field(default_factory=Dashboard, description="The Grafana dashboard.")


# --------------------------------------------------------------------------- processes


class Worker(_Model):
    """``qbsync worker``: the Faust stream worker. Stateless apart from Kafka; its web port
    serves /metrics and is what the liveness probe connects to."""

    enabled: bool = Field(default=True, description="Deploy the worker.")
    replicas: int = Field(
        default=1, ge=0, description="Pods; at most config.topics.eventsPartitions."
    )
    metrics_port: Port = Field(
        default=6066, description="The worker's web port (QBSYNC_WORKER_WEB_PORT): /metrics."
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests=ResourceList(cpu="250m", memory="512Mi"),
            limits=ResourceList(memory="1Gi"),
        ),
        description="Container resources.",
    )
    liveness_probe: ProbeTiming = Field(
        default_factory=lambda: ProbeTiming(initial_delay_seconds=30, period_seconds=15),
        description="HTTP GET /healthz on the metrics port.",
    )
    readiness_probe: ProbeTiming = Field(
        default_factory=lambda: ProbeTiming(initial_delay_seconds=20, period_seconds=15),
        description="HTTP GET /readyz: fails while the consumer holds no partition or has lag "
        "and has read nothing for QBSYNC_WORKER_READY_STALL_S.",
    )
    keda: "WorkerScaler" = Field(
        default_factory=lambda: WorkerScaler(),
        description="A KEDA ScaledObject scaling the worker on its consumer lag.",
    )
    termination_grace_period_seconds: int = Field(
        default=60, ge=0, description="Time to commit offsets and leave the group on shutdown."
    )
    pod_annotations: dict[str, str] = Field(default_factory=dict, description="Pod annotations.")
    pod_labels: dict[str, str] = Field(default_factory=dict, description="Extra pod labels.")
    scheduling: Scheduling = Field(default_factory=Scheduling, description="Pod placement.")


class WorkerScaler(_Model):
    """KEDA ScaledObject on ``sum(qbsync_worker_consumer_lag_messages)`` from Prometheus (the
    workers' own metric: no broker credentials in KEDA). Needs KEDA's CRDs."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"enabled": {"const": True}}, "required": ["enabled"]},
            "then": {"properties": {"prometheusServerAddress": {"minLength": 1}}},
        }
    )

    enabled: bool = Field(default=False, description="Create the ScaledObject.")
    min_replicas: int = Field(default=1, ge=1, description="Fewest workers (never 0).")
    max_replicas: int = Field(
        default=6, ge=1, description="Most workers; at most config.topics.eventsPartitions."
    )
    lag_threshold: int = Field(
        default=1000, ge=1, description="Target messages of lag per worker replica."
    )
    prometheus_server_address: str = Field(
        default="", description="e.g. http://prometheus-operated.monitoring:9090; required."
    )
    polling_interval: int = Field(default=30, ge=5, description="Seconds between checks.")

    @model_validator(mode="after")
    def _enabled_needs_prometheus(self) -> "WorkerScaler":
        if self.enabled and not self.prometheus_server_address:
            raise ValueError("worker.keda.prometheusServerAddress is required when enabled")
        if self.min_replicas > self.max_replicas:
            raise ValueError("worker.keda.minReplicas exceeds maxReplicas")
        return self


class GatewayAutoscaling(_Model):
    """A HorizontalPodAutoscaler for the gateway on CPU; replicas is then its start."""

    enabled: bool = Field(default=False, description="Create the HPA.")
    min_replicas: int = Field(default=2, ge=1, description="Fewest gateway pods.")
    max_replicas: int = Field(default=10, ge=1, description="Most gateway pods.")
    target_cpu_utilization_percentage: int = Field(
        default=70,
        ge=1,
        le=100,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU (of requests) to aim for.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> "GatewayAutoscaling":
        if self.min_replicas > self.max_replicas:
            raise ValueError("gateway.autoscaling.minReplicas exceeds maxReplicas")
        return self


class Service(_Model):
    """The gateway's Service."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        default="ClusterIP", description="Service type."
    )
    port: Port = Field(default=80, description="Service port (targets the pods' http port).")
    annotations: dict[str, str] = Field(default_factory=dict, description="Service annotations.")


class Ingress(_Model):
    """HTTPS exposure of the gateway. The Web Connector accepts plain HTTP only on localhost,
    so the Ingress always carries a TLS section."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"enabled": {"const": True}}, "required": ["enabled"]},
            "then": {"properties": {"host": {"minLength": 1}}},
        }
    )

    enabled: bool = Field(default=False, description="Create an Ingress for the gateway.")
    class_name: str = Field(default="", description="ingressClassName; empty: cluster default.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Ingress annotations (e.g. cert-manager issuer)."
    )
    host: str = Field(
        default="",
        pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        description="Public DNS name; required when enabled.",
    )
    paths: list[Annotated[str, StringConstraints(pattern=r"^/.*")]] = Field(
        default_factory=lambda: ["/qbwc", "/support"],
        min_length=1,
        description="Public paths routed to the gateway: /qbwc (SOAP, WSDL) and /support (the "
        ".qwc's AppSupport page); add others the gateway serves (e.g. /console). /healthz, "
        "/readyz and /metrics stay inside the cluster.",
    )
    path_type: Literal["Prefix", "Exact", "ImplementationSpecific"] = Field(
        default="Prefix", description="Ingress pathType."
    )
    tls_secret_name: str = Field(
        default="",
        description="Secret with the certificate for host; empty: the controller's default "
        "certificate (or one that cert-manager creates from the annotations).",
    )

    @model_validator(mode="after")
    def _enabled_needs_host(self) -> "Ingress":
        if self.enabled and not self.host:
            raise ValueError("ingress.host is required when the Ingress is enabled")
        return self


class PodDisruptionBudget(_Model):
    """A PodDisruptionBudget for the gateway."""

    enabled: bool = Field(default=False, description="Create the PodDisruptionBudget.")
    max_unavailable: IntOrPercent = Field(
        default=1, description="Gateway pods that voluntary disruptions may take down at once."
    )


class ConsoleIngress(Ingress):
    """HTTPS exposure of the support console and the bookkeepers' setup pages (their links
    are sent by email, so they must be reachable from outside)."""

    enabled: bool = Field(default=False, description="Create an Ingress for the console.")
    paths: list[Annotated[str, StringConstraints(pattern=r"^/.*")]] = Field(
        default_factory=lambda: ["/console"],
        min_length=1,
        description="Paths routed to the console; console.pathPrefix.",
    )


class ConsoleOidc(_Model):
    """Staff sign-in through an OpenID Connect provider (QBSYNC_CONSOLE_OIDC_*); off while
    the issuer is empty. The client secret is read from secrets.existingSecret."""

    issuer: str = Field(
        default="",
        description="QBSYNC_CONSOLE_OIDC_ISSUER (https). Empty: no single sign-on.",
    )
    client_id: str = Field(default="", description="The client registered at the provider.")
    client_secret_key: str = Field(
        default="console-oidc-client-secret",
        description="Key of the client secret in secrets.existingSecret.",
    )
    scopes: str = Field(default="openid email profile", description="Must include openid.")
    role_claim: str = Field(default="groups", description="The ID token claim with roles.")
    operator_values: str = Field(
        default="qbsync-operator", description="Claim values making an operator (comma-separated)."
    )
    viewer_values: str = Field(
        default="qbsync-viewer", description="Claim values making a viewer (comma-separated)."
    )
    username_claim: str = Field(default="email", description="Who the user is in the audit.")
    name: str = Field(default="single sign-on", description="The sign-in button's words.")


class HttpDeployment(_Model):
    """What the chart's HTTP Deployments share (the gateway, the console, the QBO sender):
    pods behind a Service, probes on GET /healthz (the gateway's readiness: /readyz),
    resources, a grace period and placement."""

    replicas: int = Field(default=1, ge=0, description="Pods behind the Service.")
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests=ResourceList(cpu="50m", memory="192Mi"),
            limits=ResourceList(memory="384Mi"),
        ),
        description="Container resources.",
    )
    readiness_probe: ProbeTiming = Field(
        default_factory=lambda: ProbeTiming(initial_delay_seconds=5, period_seconds=10),
        description="HTTP GET /healthz.",
    )
    liveness_probe: ProbeTiming = Field(
        default_factory=lambda: ProbeTiming(initial_delay_seconds=15, period_seconds=20),
        description="HTTP GET /healthz.",
    )
    service: Service = Field(default_factory=Service, description="Its Service.")
    termination_grace_period_seconds: int = Field(
        default=30, ge=0, description="Time to finish requests under way (a replay)."
    )
    pod_annotations: dict[str, str] = Field(default_factory=dict, description="Pod annotations.")
    pod_labels: dict[str, str] = Field(default_factory=dict, description="Extra pod labels.")
    scheduling: Scheduling = Field(default_factory=Scheduling, description="Pod placement.")


class Gateway(HttpDeployment):
    """``qbsync gateway``: the Web Connector SOAP gateway (WSGI, HTTP). Stateless; scale it
    behind the Service (by hand, or with its HPA); its Ingress, PodDisruptionBudget and HPA
    are its own, the rest is what every HTTP Deployment of the chart has."""

    enabled: bool = Field(default=True, description="Deploy the gateway.")
    replicas: int = Field(default=2, ge=0, description="Pods behind the Service.")
    port: Port = Field(default=8080, description="Container port the gateway listens on.")
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests=ResourceList(cpu="100m", memory="256Mi"),
            limits=ResourceList(memory="512Mi"),
        ),
        description="Container resources.",
    )
    readiness_probe: ProbeTiming = Field(
        default_factory=lambda: ProbeTiming(initial_delay_seconds=5, period_seconds=10),
        description="HTTP GET /readyz.",
    )
    service: Service = Field(default_factory=Service, description="The gateway Service.")
    ingress: Ingress = Field(default_factory=Ingress, description="The gateway Ingress.")
    pod_disruption_budget: PodDisruptionBudget = Field(
        default_factory=PodDisruptionBudget, description="The gateway PodDisruptionBudget."
    )
    autoscaling: GatewayAutoscaling = Field(
        default_factory=GatewayAutoscaling, description="The gateway HPA."
    )
    termination_grace_period_seconds: int = Field(
        default=30, ge=0, description="Time to finish in-flight Web Connector calls."
    )


class Console(HttpDeployment):
    """``qbsync console``: the support console and the setup page (docs/console.md). Off by
    default: create its staff users first (``qbsync console user add``)."""

    enabled: bool = Field(default=False, description="Deploy the console.")
    port: Port = Field(default=8090, description="Container port the console listens on.")
    path_prefix: str = Field(
        default="/console",
        pattern=r"^(/[A-Za-z0-9._-]+)*$",
        description="QBSYNC_CONSOLE_PATH_PREFIX: the pages are served under it.",
    )
    public_url: str = Field(
        default="",
        description="QBSYNC_CONSOLE_PUBLIC_URL, the base of setup links. Empty: "
        "https://<console.ingress.host><pathPrefix> when the Ingress is enabled.",
    )
    ingress: ConsoleIngress = Field(
        default_factory=ConsoleIngress, description="The console Ingress."
    )
    oidc: ConsoleOidc = Field(
        default_factory=ConsoleOidc, description="Single sign-on for staff (docs/console.md)."
    )


class QboIngress(Ingress):
    """HTTPS exposure of what Intuit sends to the QBO sender: the OAuth callback after
    "Connect to QuickBooks" (a browser redirect) and the webhooks (Intuit posts over HTTPS)."""

    enabled: bool = Field(default=False, description="Create an Ingress for the QBO sender.")
    paths: list[Annotated[str, StringConstraints(pattern=r"^/.*")]] = Field(
        default_factory=lambda: ["/qbo/callback", "/qbo/webhooks"],
        min_length=1,
        description="Paths routed to the sender: the OAuth callback and the webhooks; "
        "/healthz stays inside the cluster.",
    )


class Qbo(HttpDeployment):
    """``qbsync qbo send``: the QuickBooks Online sender (docs/qbo.md). Drains every connected
    company's command topic under a per-company lease (several replicas share the companies),
    reads changes back, and serves the OAuth callback, Intuit's webhooks and /healthz."""

    enabled: bool = Field(default=False, description="Deploy the QBO sender.")
    replicas: int = Field(
        default=1, ge=0, description="Sender pods; they share the companies, each drained by one."
    )
    port: Port = Field(default=8091, description="QBSYNC_QBO_LISTEN's port in the container.")
    api_base_url: str = Field(
        default="https://quickbooks.api.intuit.com",
        pattern=r"^https?://",
        description="QBSYNC_QBO_API_BASE_URL (sandbox companies: "
        "https://sandbox-quickbooks.api.intuit.com).",
    )
    authorize_url: str = Field(
        default="https://appcenter.intuit.com/connect/oauth2",
        pattern=r"^https?://",
        description="QBSYNC_QBO_AUTHORIZE_URL.",
    )
    token_url: str = Field(
        default="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        pattern=r"^https?://",
        description="QBSYNC_QBO_TOKEN_URL.",
    )
    revoke_url: str = Field(
        default="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
        pattern=r"^https?://",
        description="QBSYNC_QBO_REVOKE_URL.",
    )
    client_id: str = Field(
        default="", description="QBSYNC_QBO_CLIENT_ID, the app's; required when enabled."
    )
    redirect_uri: str = Field(
        default="",
        description="QBSYNC_QBO_REDIRECT_URI, registered with Intuit. Empty: "
        "https://<qbo.ingress.host>/qbo/callback when the Ingress is enabled.",
    )
    read_entities: str = Field(
        default="Customer,Vendor,Employee,Item,Invoice,Payment,CreditMemo,Estimate,Bill,Purchase,Account,Class",
        description="QBSYNC_QBO_READ_ENTITIES: read back by CDC (empty: none).",
    )
    client_secret_key: str = Field(
        default="qbo-client-secret",
        min_length=1,
        description="Key in secrets.existingSecret holding QBSYNC_QBO_CLIENT_SECRET.",
    )
    token_keys_key: str = Field(
        default="qbo-token-keys",
        min_length=1,
        description="Key in secrets.existingSecret holding QBSYNC_QBO_TOKEN_KEYS (Fernet keys, "
        "comma-separated: the first encrypts).",
    )
    webhook_verifier_key: str = Field(
        default="",
        description="Key in secrets.existingSecret holding QBSYNC_QBO_WEBHOOK_VERIFIER; empty: "
        "no webhooks (changes are read every QBSYNC_QBO_READ_INTERVAL_S).",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests=ResourceList(cpu="100m", memory="192Mi"),
            limits=ResourceList(memory="384Mi"),
        ),
        description="Container resources.",
    )
    ingress: QboIngress = Field(default_factory=QboIngress, description="The sender's Ingress.")
    termination_grace_period_seconds: int = Field(
        default=60,
        ge=0,
        description="Time to finish the command under way and give the companies' leases back.",
    )

    @model_validator(mode="after")
    def _enabled_needs_the_app(self) -> "Qbo":
        if self.enabled and not self.client_id:
            raise ValueError("qbo.clientId is required when the QBO sender is enabled")
        if self.enabled and not (self.redirect_uri or self.ingress.enabled):
            raise ValueError(
                "qbo.redirectUri is required when the QBO sender is enabled without its Ingress"
            )
        return self


class Migration(_Model):
    """``qbsync db upgrade`` as a Helm pre-install/pre-upgrade hook Job."""

    enabled: bool = Field(default=True, description="Run the migrations before install/upgrade.")
    backoff_limit: int = Field(default=2, ge=0, description="Retries of a failed migration pod.")
    active_deadline_seconds: int = Field(
        default=600, ge=1, description="The Job (and so the Helm hook) fails after this long."
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests=ResourceList(cpu="100m", memory="256Mi"),
            limits=ResourceList(memory="512Mi"),
        ),
        description="Container resources.",
    )
    pod_annotations: dict[str, str] = Field(default_factory=dict, description="Pod annotations.")
    scheduling: Scheduling = Field(default_factory=Scheduling, description="Pod placement.")


# --------------------------------------------------------------------------- the whole tree


class QbsyncValues(_Model):
    """Values of the qbsync Helm chart."""

    model_config = ConfigDict(title="qbsync Helm chart values")

    name_override: str = Field(default="", description="Replaces the chart name in names.")
    fullname_override: str = Field(default="", description="Replaces the full resource name.")
    image: Image = Field(default_factory=Image, description="The qbsync image.")
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, description="Secrets for pulling the image."
    )
    service_account: ServiceAccount = Field(
        default_factory=ServiceAccount, description="The pods' ServiceAccount."
    )
    pod_security_context: PodSecurity = Field(
        default_factory=PodSecurity, description="User and group ids of every pod."
    )
    config: Config = Field(default_factory=Config, description="Non-secret settings.")
    secrets: Secrets = Field(default_factory=Secrets, description="The existing Secret.")
    metrics: Metrics = Field(default_factory=Metrics, description="Prometheus scraping.")
    worker: Worker = Field(default_factory=Worker, description="The stream worker.")
    gateway: Gateway = Field(default_factory=Gateway, description="The Web Connector gateway.")
    migration: Migration = Field(default_factory=Migration, description="The migration Job.")
    console: Console = Field(default_factory=Console, description="The support console.")
    qbo: Qbo = Field(default_factory=Qbo, description="The QuickBooks Online sender.")

    @model_validator(mode="after")
    def _workers_fit_partitions(self) -> "QbsyncValues":
        partitions = self.config.topics.events_partitions
        if self.worker.enabled and self.worker.replicas > partitions:
            raise ValueError(
                f"worker.replicas ({self.worker.replicas}) exceeds "
                f"config.topics.eventsPartitions ({partitions})"
            )
        keda = self.worker.keda
        if self.worker.enabled and keda.enabled and keda.max_replicas > partitions:
            raise ValueError(
                f"worker.keda.maxReplicas ({keda.max_replicas}) exceeds "
                f"config.topics.eventsPartitions ({partitions})"
            )
        return self


# --------------------------------------------------------------------------- generator


# pydantic's own alias for this lives in a private module.
_CoreSchemaOrField = (
    core_schema.CoreSchema
    | core_schema.ModelField
    | core_schema.DataclassField
    | core_schema.TypedDictField
    | core_schema.ComputedField
)


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator without the per-field titles ("Bootstrapservers"): the
    descriptions say more, and the keys are already the names."""

    def field_title_should_be_set(self, schema: _CoreSchemaOrField) -> bool:
        return False


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the chart's values, as Helm reads it."""
    schema = QbsyncValues.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_SchemaGenerator
    )
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def render_schema() -> str:
    """``values.schema.json``'s exact text: stable key order, two-space indent, final newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema, or with ``--check`` report whether the file on disk is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file differs from what the models generate",
    )
    parser.add_argument(
        "--output", type=Path, default=SCHEMA_PATH, help=f"schema file (default: {SCHEMA_PATH})"
    )
    args = parser.parse_args(argv)
    output: Path = args.output
    expected = render_schema()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current != expected:
            sys.stderr.write(
                f"{output} is stale; regenerate it with: python deploy/helm/schema/values.py\n"
            )
            return 1
        sys.stdout.write(f"{output} is up to date\n")
        return 0
    output.write_text(expected, encoding="utf-8")
    sys.stdout.write(f"wrote {output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
