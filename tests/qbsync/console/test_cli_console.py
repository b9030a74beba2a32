"""``qbsync console user ...`` and ``qbsync console setup-link``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from connectors.qbwc import create_profile, verify_password
from connectors.store import ConsoleStore, Store, digest, upgrade
from qbsync.cli import app

pytestmark = pytest.mark.integration


@pytest.fixture
def store(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QBSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("QBSYNC_CONSOLE_PUBLIC_URL", "https://sync.example.com/console")
    upgrade(database_url)
    return Store(database_url)


def test_user_add_shows_the_password_once_and_stores_its_hash(store: Store) -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["console", "user", "add", "olga", "--role", "operator", "--json"])
    assert added.exit_code == 0, added.output
    shown = json.loads(added.stdout)
    user = ConsoleStore(store).user("olga")
    assert user is not None
    assert user.role == "operator"
    assert verify_password(shown["password"], user.password_hash)
    assert shown["password"] not in user.password_hash

    typed = runner.invoke(
        app,
        ["console", "user", "add", "vic", "--role", "viewer", "--password-stdin"],
        input="short\n",
    )
    assert typed.exit_code == 2, typed.output  # usage (docs/cli.md)
    assert "at least 12 characters" in typed.output
    assert ConsoleStore(store).user("vic") is None
    wrong = runner.invoke(app, ["console", "user", "add", "x", "--role", "admin"])
    assert wrong.exit_code == 2
    assert "use one of viewer, operator" in wrong.output
    twice = runner.invoke(app, ["console", "user", "add", "olga", "--role", "viewer"])
    assert twice.exit_code == 2
    assert "exists already" in twice.output
    store.close()


def test_setup_link_is_printed_once_and_only_its_digest_is_stored(store: Store) -> None:
    created = create_profile(store, name="Acme", tenants=["t-1"])
    made = CliRunner().invoke(app, ["console", "setup-link", "Acme", "--json"])
    assert made.exit_code == 0, made.output
    url = json.loads(made.stdout)["url"]
    assert url.startswith("https://sync.example.com/console/setup/")
    token = url.rsplit("/", 1)[1]
    (link,) = ConsoleStore(store).setup_links(created.profile.id)
    assert link.token_hash == digest(token)
    assert token not in link.token_hash
    assert [e.action for e in ConsoleStore(store).audit_log()] == ["setup-link"]
    store.close()
