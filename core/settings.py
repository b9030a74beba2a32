"""Typed settings, one class per concern, read from ``QBSYNC_*`` environment variables.

Nothing here holds an address or a secret: every default is either empty ("start the
embedded broker") or local to ``QBSYNC_DATA_DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_DAY_MS = 24 * 3600 * 1000

__all__ = [
    "ConsoleSettings",
    "DatabaseSettings",
    "GatewaySettings",
    "KafkaSettings",
    "QboSettings",
    "SchemaRegistrySettings",
    "Settings",
    "TopicSettings",
    "WorkerSettings",
]


class KafkaSettings(BaseSettings):
    """``QBSYNC_KAFKA_*``: where the broker is. Empty bootstrap servers: start the embedded one."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_KAFKA_", extra="ignore")

    bootstrap_servers: str = ""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    # Tansu 0.6 (the embedded demo broker) moves its high watermark once per record batch;
    # false makes the gateway read to find the end of a file's queue. True for Apache Kafka.
    exact_watermarks: bool = True
    # TLS (security_protocol SSL or SASL_SSL): PEM files, e.g. mounted from a Secret. Empty
    # CA: the system's; a client certificate and key: mutual TLS.
    ssl_ca_location: str = ""
    ssl_certificate_location: str = ""
    ssl_key_location: str = ""
    ssl_key_password: SecretStr = SecretStr("")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.upper() in {"SSL", "SASL_SSL"}

    def client_config(self) -> dict[str, str]:
        """librdkafka-style settings (confluent-kafka); the secret is revealed only here."""
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.uses_tls:
            for key, value in (
                ("ssl.ca.location", self.ssl_ca_location),
                ("ssl.certificate.location", self.ssl_certificate_location),
                ("ssl.key.location", self.ssl_key_location),
                ("ssl.key.password", self.ssl_key_password.get_secret_value()),
            ):
                if value:
                    config[key] = value
        return config


class SchemaRegistrySettings(BaseSettings):
    """``QBSYNC_SCHEMA_REGISTRY_*``: a Confluent Schema Registry. Empty URL: Avro
    single-object encoding, no registry (see ``core.contracts``)."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_SCHEMA_REGISTRY_", extra="ignore")

    url: str = ""
    basic_auth_user_info: SecretStr = SecretStr("")
    auto_register: bool = True

    def client_config(self) -> dict[str, str] | None:
        """Extra registry client settings; the secret is revealed only here."""
        secret = self.basic_auth_user_info.get_secret_value()
        return {"basic.auth.user.info": secret} if secret else None


class TopicSettings(BaseSettings):
    """``QBSYNC_TOPIC_*``: topic names. See ``docs/architecture.md`` for why these."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_TOPIC_", extra="ignore")

    prefix: str = "qbsync"
    events_partitions: int = Field(default=6, ge=1)
    results_partitions: int = Field(default=6, ge=1)
    # How every topic qbsync creates is configured (docs/architecture.md, "Topics and
    # keys"): applied when a topic is created, and existing topics that drifted are set back
    # at start (`qbsync run`, `qbsync worker`), each change logged. cleanup.policy is not a
    # setting: `delete` for every topic (compaction keeps one message per tenant and drops
    # the rest), `compact` for the worker's table changelog (Faust's state).
    # -1: the broker's default.replication.factor; production: 3.
    replication_factor: int = Field(default=-1, ge=-1)
    # 0: the broker's default (1); production: 2, with replication_factor 3 and acks=all.
    min_insync_replicas: int = Field(default=0, ge=0)
    # The worker's parking-table changelog; 0: as replication_factor (1 when that is -1,
    # for Faust's own declarations).
    changelog_replication_factor: int = Field(default=0, ge=0)
    # retention.ms per topic kind; -1 keeps messages until they are deleted by hand.
    # Command topics never expire by default: a Web Connector switched off for the
    # holidays must find its commands when it comes back (alert on their lag instead).
    events_retention_ms: int = Field(default=7 * _DAY_MS, ge=-1)
    commands_retention_ms: int = Field(default=-1, ge=-1)
    results_retention_ms: int = Field(default=7 * _DAY_MS, ge=-1)
    status_retention_ms: int = Field(default=7 * _DAY_MS, ge=-1)
    imports_retention_ms: int = Field(default=7 * _DAY_MS, ge=-1)
    changes_retention_ms: int = Field(default=7 * _DAY_MS, ge=-1)
    dead_letters_retention_ms: int = Field(default=90 * _DAY_MS, ge=-1)

    def config(self, retention_ms: int | None) -> dict[str, str]:
        """Topic configs: ``delete`` with ``retention_ms``, or ``compact`` when ``None``."""
        config = (
            {"cleanup.policy": "compact"}
            if retention_ms is None
            else {"cleanup.policy": "delete", "retention.ms": str(retention_ms)}
        )
        if self.min_insync_replicas:
            config["min.insync.replicas"] = str(self.min_insync_replicas)
        return config

    def command_config(self) -> dict[str, str]:
        """A company file's command topic (created on first use by the worker)."""
        return self.config(self.commands_retention_ms)

    @property
    def changelog_replicas(self) -> int:
        """The parking-table changelog's replication factor (-1: the broker's default)."""
        return self.changelog_replication_factor or self.replication_factor

    def changelog(self, app_id: str) -> str:
        """The worker's parking-table changelog (Faust names it after the app and table)."""
        return f"{app_id}-parked-changelog"

    @property
    def events(self) -> str:
        """Source apps publish every domain event here, keyed by tenant id."""
        return f"{self.prefix}.events"

    @property
    def results(self) -> str:
        """The gateway publishes one result per command here, keyed by tenant id."""
        return f"{self.prefix}.results"

    @property
    def status(self) -> str:
        """Per-record sync status for source apps (synced or failed, with the remedy)."""
        return f"{self.prefix}.status"

    @property
    def dead_letters(self) -> str:
        """One dead-letter topic for every tenant."""
        return f"{self.prefix}.deadletters"

    @property
    def imports(self) -> str:
        """Records read back from QuickBooks, one message per tenant, keyed by tenant id
        (internal: the gateway writes, the worker reads)."""
        return f"{self.prefix}.imports"

    @property
    def changes(self) -> str:
        """For source apps: records changed in QuickBooks by someone else, keyed by tenant."""
        return f"{self.prefix}.changes"

    def commands(self, profile_id: str) -> str:
        """One command topic per QuickBooks company file (profile), one partition: ordered."""
        return f"{self.prefix}.commands.{profile_id}"


class DatabaseSettings(BaseSettings):
    """``QBSYNC_DATABASE_*``: the store. Empty URL: a SQLite file under the data dir."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_DATABASE_", extra="ignore")

    url: SecretStr = SecretStr("")
    echo: bool = False
    # PostgreSQL connections each process keeps (pool) and may open beyond it (overflow).
    pool_size: int = Field(default=5, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)


class GatewaySettings(BaseSettings):
    """``QBSYNC_GATEWAY_*``: the Web Connector gateway."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    batch_size: int = Field(default=25, ge=1, le=500)
    batch_max_bytes: int = Field(default=512 * 1024, ge=1024)
    session_ttl_s: float = Field(default=600.0, gt=0)
    threads: int = Field(default=8, ge=1)
    # Gateway processes sharing the port (SO_REUSEPORT, Linux; qbsync/_gateway_processes.py).
    # One Python process runs one request thread at a time (the GIL): from ~16 busy sessions
    # a gateway process is one core, whatever the threads. N processes are N replicas on one
    # host (the store's lease keeps one session per file; crash recovery as across pods);
    # each checks a profile's password once for itself. /metrics sums their counters.
    processes: int = Field(default=1, ge=1, le=64)
    # Bind the port with SO_REUSEPORT, beside other processes that do (set for the
    # processes above; for your own supervisor running several `qbsync gateway`s).
    reuse_port: bool = False
    # Kafka clients the gateway asks command topics' offsets with (one call at a time each).
    kafka_consumers: int = Field(default=4, ge=1, le=64)
    # Commands read ahead per busy company file by the gateway's one long-lived reading
    # consumer, so a session's next batch is usually in memory (connectors/kafka/
    # _read_ahead.py); 0: each batch assigns a pooled consumer and reads only what it needs.
    read_ahead: int = Field(default=200, ge=0, le=10000)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    # clientVersion answers "W:" (warn, go on) below this Web Connector version.
    min_client_version: str = "2.1.0.0"
    # clientVersion answers "E:" (refuse) below this version; empty: never.
    refuse_client_below: str = ""
    # A profile counts as stalled after this many of its scheduled intervals without a call.
    stalled_factor: float = Field(default=3.0, gt=1.0)
    # The company files' backlog (/metrics): read from Kafka at most this often.
    backlog_interval_s: float = Field(default=30.0, gt=0)
    # Open HTTP connections waitress accepts (each Web Connector may keep one alive).
    connection_limit: int = Field(default=1000, ge=10)
    # Lists read back from each company file after its commands, by qbXML entity name,
    # comma-separated (connectors.qbwc._imports): what `qbsync map match` matches against and
    # how the worker knows a class or sales tax code exists. Empty: no imports.
    # deleted_transactions: QuickBooks' log of the imported transactions' deletions (told
    # to the app whose record it was).
    imports: str = (
        "class,sales_tax_code,terms,account,item,customer,vendor,employee,invoice,"
        "receive_payment,bill,deleted_transactions"
    )
    import_interval_s: float = Field(default=900.0, gt=0)
    import_page_size: int = Field(default=150, ge=1, le=150)
    # Login throttling (issue 13), the same for user names that exist and names that do not:
    # after login_free_failures attempts a name is checked once per lockout, which doubles
    # up to login_max_lockout_s; past login_global_failures_per_minute failed logins (all
    # names) only recently verified passwords get in until the minute is over; at most
    # login_kdf_concurrency scrypt checks run at once per process, a login waits
    # login_kdf_wait_s for one, else it is answered "busy".
    login_free_failures: int = Field(default=5, ge=1)
    login_max_lockout_s: float = Field(default=300.0, gt=0)
    login_global_failures_per_minute: int = Field(default=300, ge=1)
    login_kdf_concurrency: int = Field(default=2, ge=1, le=64)
    login_kdf_wait_s: float = Field(default=0.25, ge=0)
    # Gateway at scale (issue 14): which files have commands waiting is read from the broker
    # in bulk every work_index_s seconds (all watermarks and committed offsets at once), so
    # an idle poll is answered from memory; a command written since the last refresh is
    # seen at the Web Connector's next poll. 0: ask the broker on every authenticate.
    # On by default (1 s): a command written within a second before a poll waits for the
    # Web Connector's next scheduled poll (about 1 s / poll interval of commands, never lost),
    # for idle polls that cost no broker round trip (docs/gateway-scale.md).
    work_index_s: float = Field(default=1.0, ge=0)
    # A profile read for a login is used this long (a disabled profile or a reset password
    # takes effect within it, on every replica), and import requests (support's "read
    # again") are checked for all files this often; 0: read the store on every authenticate.
    profile_cache_s: float = Field(default=1.0, ge=0)
    # Which code answers the Web Connector's eight SOAP operations: "lean" (parsed once by
    # the hardened parser, answered from templates, connectors/qbwc/_lean.py; anything it
    # does not recognise still goes to spyne) or "spyne" (everything through spyne).
    # spyne always serves the WSDL. docs/performance.md has the numbers.
    soap_path: Literal["lean", "spyne"] = "lean"

    @property
    def import_entities(self) -> tuple[str, ...]:
        return tuple(e.strip() for e in self.imports.split(",") if e.strip())


class WorkerSettings(BaseSettings):
    """``QBSYNC_WORKER_*``: the Faust worker."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_WORKER_", extra="ignore")

    app_id: str = "qbsync-worker"
    web_port: int = Field(default=6066, ge=0, le=65535)
    # The interface of the worker's web server (/metrics, /healthz, /readyz): 0.0.0.0 in a
    # container, so the kubelet and Prometheus reach it.
    web_host: str = "127.0.0.1"
    # /readyz fails when the consumer holds no partition, or has not polled for this long.
    ready_stall_s: float = Field(default=120.0, gt=0)
    # How long the group waits for a silent worker before moving its partitions. Kafka's
    # default is 45 s; 30 s fails over sooner and is still far above a heartbeat's 3 s.
    session_timeout_s: float = Field(default=30.0, ge=6.0)
    # How often the worker commits the offsets of the events it has carried out (Faust's
    # 2.8 s). A rebalance commits them too, before the partitions move (streams._feed), so
    # a longer interval re-sends more only after a crash.
    commit_interval_s: float = Field(default=2.8, gt=0)
    qbxml_version: str = "13.0"
    # Passing failures (QuickBooks busy, a record in use): sent again after
    # retry_base_s * 2**(attempt-1) seconds, capped at retry_max_s, each delay jittered
    # between half and all of it, so that many files failing at once do not retry together.
    # The Web Connector polls every few minutes, so shorter delays buy nothing in production.
    retry_attempts: int = Field(default=6, ge=1)
    retry_base_s: float = Field(default=60.0, gt=0)
    retry_max_s: float = Field(default=1800.0, gt=0)
    # Events waiting for a record that never reaches QuickBooks go to the dead-letter topic
    # after this long (a week: a bookkeeper's vacation must not cost a payment).
    park_limit_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Waiting and paused events are planned again this often, in case what they wait for
    # happened some other way (a mapping matched by support, the integration switched on).
    recheck_s: float = Field(default=60.0, gt=0)
    sweep_interval_s: float = Field(default=1.0, gt=0)
    # Events (and results) are taken in batches of up to batch_size, waiting at most
    # batch_within_s for a batch to fill: one thread hop and one store transaction per batch
    # instead of per message (docs/performance.md).
    batch_size: int = Field(default=500, ge=1)
    batch_within_s: float = Field(default=0.05, gt=0)
    # librdkafka producers the worker writes through, each topic always on the same one: a
    # batch for hundreds of company files' topics is acknowledged sooner by several
    # (connectors.kafka.ProducerPool, docs/performance.md "Many company files").
    producers: int = Field(default=4, ge=1, le=32)


class ConsoleSettings(BaseSettings):
    """``QBSYNC_CONSOLE_*``: the support console and the bookkeeper's setup page
    (docs/console.md). Its own process and port; ``qbsync run`` starts it unless disabled."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_CONSOLE_", extra="ignore")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    # Where it is mounted (behind the Ingress, and locally): pages at <prefix>/...
    path_prefix: str = Field(default="/console", pattern=r"^(/[A-Za-z0-9._-]+)*$")
    # The console's address as a bookkeeper's browser sees it, for setup links
    # (https://sync.example.com/console). Empty: the address of the request that made it.
    public_url: str = ""
    # Cookies only over HTTPS. Browsers also accept them from http://localhost.
    cookie_secure: bool = True
    session_ttl_s: float = Field(default=8 * 3600.0, gt=0)
    setup_link_ttl_s: float = Field(default=72 * 3600.0, gt=0)
    threads: int = Field(default=4, ge=1)
    # The setup page's status refresh (seconds); the page also works without JavaScript.
    status_poll_s: float = Field(default=3.0, gt=0)
    # The dead-letter list reads at most this many of the topic's letters per page.
    dead_letter_page: int = Field(default=500, ge=1)
    # Staff sign-in through an OpenID Connect provider (docs/console.md), on when the issuer
    # is set; local users keep working. The provider's discovery document is read from
    # <issuer>/.well-known/openid-configuration (https, or http on a loopback address).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_scopes: str = "openid email profile"
    # The ID token claim holding the user's roles or groups (a list or one string), and the
    # values that make an operator or a viewer (comma-separated); no match: no sign-in.
    oidc_role_claim: str = "groups"
    oidc_operator_values: str = "qbsync-operator"
    oidc_viewer_values: str = "qbsync-viewer"
    # The claim naming the user in the audit trail (as "oidc:<value>").
    oidc_username_claim: str = "email"
    # The button's words on the sign-in page.
    oidc_name: str = "single sign-on"


class QboSettings(BaseSettings):
    """``QBSYNC_QBO_*``: QuickBooks Online (issue 19). Intuit's URLs are settings like every
    address; ``docs/qbo.md`` lists the production values."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_QBO_", extra="ignore")

    api_base_url: str = ""
    authorize_url: str = ""
    token_url: str = ""
    revoke_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    redirect_uri: str = ""
    # Fernet keys, comma-separated: the first encrypts tokens at rest, all decrypt (rotation).
    token_keys: SecretStr = SecretStr("")
    # Intuit's webhook verifier token: the intuit-signature HMAC key.
    webhook_verifier: SecretStr = SecretStr("")
    minor_version: str = "75"
    # Intuit's limits per realm (500 requests a minute, 10 concurrent): lower them, never raise.
    requests_per_minute: int = Field(default=500, ge=1, le=500)
    concurrent: int = Field(default=10, ge=1, le=10)
    timeout_s: float = Field(default=30.0, gt=0)
    retry_attempts: int = Field(default=6, ge=1)
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    # Commands read from a company's topic per drain (results published, then one commit);
    # 30: a drain of creates fills one batch request (Intuit's 30 items).
    batch_size: int = Field(default=30, ge=1)
    # Runs of independent creates go to QBO through its batch endpoint (POST /batch, up to
    # 30 per request, 40 batch requests a minute); off: every command is one request.
    batch_creates: bool = True
    # Companies drained at once by one sender (each company by one thread, in order).
    sender_threads: int = Field(default=8, ge=1)
    # Reading back (issue 19, second step): a sender holds a lease on each company it drains
    # (renewed before every command; lapses if the process dies); CDC reads per company.
    drain_lease_s: float = Field(default=120.0, gt=0)
    # QBO entities read back by CDC after a company's commands (empty: none), and how often.
    read_entities: str = (
        "Customer,Vendor,Employee,Item,Invoice,Payment,CreditMemo,Estimate,Bill,Purchase,"
        "Account,Class"
    )
    read_interval_s: float = Field(default=300.0, gt=0)
    # How often the time entries qbsync knows for a company are checked for deletions
    # (CDC has no TimeActivity; a webhook's Delete checks at once): 100 ids per request.
    deletion_sweep_s: float = Field(default=3600.0, gt=0)
    # host:port where `qbsync qbo send` serves HTTP (behind TLS): the OAuth callback
    # (/qbo/callback), Intuit's webhooks (/qbo/webhooks), /healthz; empty: nothing served.
    listen: str = ""

    @property
    def read_entity_names(self) -> tuple[str, ...]:
        return tuple(e.strip() for e in self.read_entities.split(",") if e.strip())

    @property
    def configured(self) -> bool:
        """Whether this deployment talks to QuickBooks Online at all (``qbsync run``
        starts the sender only then)."""
        return not self.missing()

    def missing(self) -> list[str]:
        """The settings a connected deployment needs that are empty, by variable name."""
        names = {
            "api_base_url": self.api_base_url,
            "authorize_url": self.authorize_url,
            "token_url": self.token_url,
            "revoke_url": self.revoke_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            "redirect_uri": self.redirect_uri,
            "token_keys": self.token_keys.get_secret_value(),
        }
        return [f"QBSYNC_QBO_{k.upper()}" for k, v in names.items() if not v]


class Settings(BaseSettings):
    """The whole tree. ``Settings()`` reads the environment; tests pass values explicitly."""

    model_config = SettingsConfigDict(env_prefix="QBSYNC_", extra="ignore")

    data_dir: Path = Path(".qbsync")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    schema_registry: SchemaRegistrySettings = Field(default_factory=SchemaRegistrySettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    qbo: QboSettings = Field(default_factory=QboSettings)

    @property
    def database_url(self) -> str:
        """The configured URL, or ``sqlite:///<data_dir>/qbsync.db``."""
        configured = self.database.url.get_secret_value()
        if configured:
            return configured
        return f"sqlite:///{(self.data_dir / 'qbsync.db').resolve()}"
