"""An empty PostgreSQL database for tests, without Docker.

:func:`postgres_url` yields a SQLAlchemy URL (``postgresql+psycopg://...``):

1. ``$QBSYNC_TEST_POSTGRES_URL``, used as is (nothing is created or dropped);
2. else a private, throwaway cluster started from the local PostgreSQL server binaries
   (``/usr/lib/postgresql/<newest>/bin``, or ``initdb``/``pg_ctl`` on ``PATH``), listening only
   on 127.0.0.1 with ``trust`` authentication, holding one database ``qbsync_test``; it is
   stopped and deleted on exit;
3. else ``None``: the caller decides whether to skip or fail.

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user
(via ``runuser``); without that user, ``None`` is yielded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from core.ports import free_loopback_ports

__all__ = ["postgres_url"]

logger = logging.getLogger(__name__)

_ENV_URL = "QBSYNC_TEST_POSTGRES_URL"
_DATABASE = "qbsync_test"
_SUPERUSER = "postgres"


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """Yield a URL to an empty database, or ``None`` when no PostgreSQL can be had here."""
    configured = os.environ.get(_ENV_URL, "").strip()
    if configured:
        yield configured
        return
    bindir = _server_bindir()
    if bindir is None:
        logger.info("no PostgreSQL server binaries found; no database")
        yield None
        return
    run_as: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            owner = None
        if owner is None or runuser is None:
            logger.info("running as root without a `postgres` user or `runuser`; no database")
            yield None
            return
        run_as = [runuser, "-u", owner.pw_name, "--"]
    with _throwaway_cluster(bindir, run_as, owner) as url:
        yield url


def _server_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and pg_ctl, else PATH's."""

    def major(bindir: Path) -> tuple[int, str]:
        name = bindir.parent.name
        return (int(name) if name.isdigit() else -1, name)

    candidates = [
        initdb.parent
        for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if (initdb.parent / "pg_ctl").is_file()
    ]
    if candidates:
        return max(candidates, key=major)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


def _run(argv: Sequence[str], cwd: Path) -> None:
    """Run a PostgreSQL tool; on failure raise with its output."""
    result = subprocess.run(  # fixed argv, no shell
        argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(argv)} failed with exit code {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )


@contextmanager
def _throwaway_cluster(
    bindir: Path, run_as: Sequence[str], owner: pwd.struct_passwd | None
) -> Iterator[str]:
    """initdb + pg_ctl start in a temporary directory; stop and delete it on exit."""
    root = Path(tempfile.mkdtemp(prefix="qbsync-pg-"))
    data = root / "data"
    log = root / "postgres.log"
    started = False
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        _run(
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                _SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=root,
        )
        (port,) = free_loopback_ports(1)
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {port}",
                f"-c unix_socket_directories={shlex.quote(str(root))}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        try:
            _run(
                [
                    *run_as,
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                cwd=root,
            )
        except RuntimeError as exc:
            tail = log.read_text(errors="replace")[-4000:] if log.is_file() else ""
            raise RuntimeError(f"{exc}\n--- {log} ---\n{tail}") from exc
        started = True
        _run(
            [
                str(bindir / "createdb") if (bindir / "createdb").is_file() else "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                _SUPERUSER,
                _DATABASE,
            ],
            cwd=root,
        )
        logger.info("throwaway PostgreSQL on 127.0.0.1:%d in %s", port, root)
        yield f"postgresql+psycopg://{_SUPERUSER}@127.0.0.1:{port}/{_DATABASE}"
    finally:
        if started:
            with contextlib.suppress(RuntimeError):
                _run(
                    [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                    cwd=root,
                )
        shutil.rmtree(root, ignore_errors=True)
