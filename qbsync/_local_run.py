"""How commands find the local ``qbsync run`` they belong to.

``qbsync run`` writes ``<data dir>/run.json`` once its broker and gateway are up (and removes
it when it stops); ``publish``, ``dlq``, ``sandbox run`` and the rest read it when no broker
is configured, and say which one they used. A file whose process is gone is ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigurationError
from core.settings import Settings

__all__ = [
    "RUN_FILE",
    "LocalRun",
    "check_broker",
    "read_run_file",
    "remove_run_file",
    "use_local_broker",
    "use_local_gateway",
    "write_run_file",
]

RUN_FILE = "run.json"
# How long a command waits for a broker before saying it is unreachable.
BROKER_WAIT_S = 5.0


@dataclass(frozen=True)
class LocalRun:
    bootstrap_servers: str
    gateway_url: str  # the gateway's base URL; SOAP at ``gateway_url + "/qbwc"``
    worker_web_port: int
    pid: int
    # The supervised children's pids by name ("broker" only when `run` started it);
    # informative: rewritten after a child is restarted.
    children: dict[str, int] = field(default_factory=dict)

    @property
    def soap_url(self) -> str:
        base = self.gateway_url.rstrip("/")
        return base if base.endswith("/qbwc") else f"{base}/qbwc"


def _path(data_dir: Path) -> Path:
    return data_dir / RUN_FILE


def write_run_file(data_dir: Path, run: LocalRun) -> Path:
    """Record ``run`` atomically (a reader never sees half a file)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = _path(data_dir)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(asdict(run), sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def remove_run_file(data_dir: Path, pid: int) -> None:
    """Remove the file if it is still ``pid``'s (another run may have replaced it)."""
    found = _read(_path(data_dir))
    if found is not None and found.pid == pid:
        _path(data_dir).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> LocalRun | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LocalRun(
            bootstrap_servers=str(data["bootstrap_servers"]),
            gateway_url=str(data["gateway_url"]),
            worker_web_port=int(data["worker_web_port"]),
            pid=int(data["pid"]),
            children={str(k): int(v) for k, v in dict(data.get("children") or {}).items()},
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"{path} is not a run file qbsync wrote ({type(exc).__name__}); delete it and"
            " restart `qbsync run`"
        ) from None


def read_run_file(data_dir: Path) -> LocalRun | None:
    """The running ``qbsync run`` of ``data_dir``, or None (no file, or its process is gone)."""
    found = _read(_path(data_dir))
    if found is None or not _alive(found.pid):
        return None
    return found


def _no_run(data_dir: Path, what: str, fix: str) -> ConfigurationError:
    return ConfigurationError(
        f"{what} is not set and no `qbsync run` is running for data dir {data_dir.resolve()};"
        f" start `qbsync run` in another shell (same directory or QBSYNC_DATA_DIR), or {fix}"
    )


def use_local_broker(settings: Settings, say: Callable[[str], None]) -> Settings:
    """``settings`` with a broker: the configured one, else the local run's (said on one
    line). Either way the broker must answer within a few seconds."""
    if not settings.kafka.bootstrap_servers:
        run = read_run_file(settings.data_dir)
        if run is None:
            raise _no_run(
                settings.data_dir,
                "QBSYNC_KAFKA_BOOTSTRAP_SERVERS",
                "set QBSYNC_KAFKA_BOOTSTRAP_SERVERS to your broker",
            )
        settings.kafka.bootstrap_servers = run.bootstrap_servers
        say(
            f"using the broker of `qbsync run` (pid {run.pid}) at {run.bootstrap_servers},"
            f" from {_path(settings.data_dir).resolve()}"
        )
        check_broker(settings, hint=f"`qbsync run` (pid {run.pid}) may be stopping")
    else:
        check_broker(settings, hint="check QBSYNC_KAFKA_BOOTSTRAP_SERVERS")
    return settings


def use_local_gateway(settings: Settings, say: Callable[[str], None]) -> str:
    """The SOAP URL of the local run's gateway (said on one line)."""
    run = read_run_file(settings.data_dir)
    if run is None:
        raise _no_run(settings.data_dir, "--gateway", "pass --gateway http://HOST:PORT/qbwc")
    say(f"using the gateway of `qbsync run` (pid {run.pid}) at {run.soap_url}")
    return run.soap_url


def _quiet_logger() -> logging.Logger:
    """Where librdkafka's own log lines go: nowhere (a dead broker makes hundreds)."""
    quiet = logging.getLogger("qbsync.kafka.librdkafka")
    quiet.propagate = False
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    quiet.setLevel(logging.CRITICAL + 1)
    return quiet


def check_broker(settings: Settings, *, hint: str, timeout_s: float = BROKER_WAIT_S) -> None:
    """Raise one clear line, naming the address, if the broker does not answer in time."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    address = settings.kafka.bootstrap_servers
    config: dict[str, Any] = {
        **settings.kafka.client_config(),
        "logger": _quiet_logger(),
        "error_cb": lambda _error: None,
    }
    admin = AdminClient(config)
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException:
        raise ConfigurationError(
            f"the broker at {address} did not answer within {timeout_s:g} s; {hint}"
        ) from None
