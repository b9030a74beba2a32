"""The OAuth connect flow, refresh with rotation, revocation: over HTTP against the QBO
sandbox's OAuth server, with tokens in a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from connectors.qbo import QboConnections, QboRequest, ReconnectNeeded, TokenCipher, TokenKeeper
from connectors.qbo._connections import CONNECTED, RECONNECT_NEEDED, UnknownConnect
from tests.support.qbo import add_qbo_profile, connect, qbo_world

REALM = "9130357992221046"


def test_connect_stores_encrypted_tokens_and_the_realm(database_url: str) -> None:
    with qbo_world(database_url) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co")
        connect(world, profile_id, REALM)

        company = world.connections.company(profile_id)
        assert company is not None
        assert company.tokens is not None
        assert (company.realm_id, company.status) == (REALM, CONNECTED)
        with world.store.engine.connect() as connection:
            stored = connection.execute(
                text("select access_token, refresh_token from qbo_companies")
            ).one()
        secret_access = company.tokens.access_token.get_secret_value()
        secret_refresh = company.tokens.refresh_token.get_secret_value()
        assert secret_access not in stored[0]
        assert secret_refresh not in stored[1]
        # The token opens the company: a real API call succeeds.
        answer = world.client.send(QboRequest.query(REALM, "select count(*) from Item"))
        assert answer.ok
        assert answer.body["QueryResponse"]["totalCount"] == 1


def test_a_callback_with_an_unknown_state_is_refused(database_url: str) -> None:
    with qbo_world(database_url) as world:
        world.sandbox.add_company(REALM)
        add_qbo_profile(world.store, "Online Co")
        tokens = world.oauth.exchange(
            world.sandbox.oauth.grant_code(REALM, "https://app.example/qbo/callback")
        )
        with pytest.raises(UnknownConnect, match="qbsync qbo connect"):
            world.connections.complete_connect("forged-state", REALM, tokens)


def test_an_expiring_token_is_refreshed_and_the_rotation_persisted(database_url: str) -> None:
    with qbo_world(database_url) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co")
        connect(world, profile_id, REALM)
        before = world.connections.company(profile_id)
        assert before is not None
        assert before.tokens is not None

        # Four minutes to go: inside the five-minute margin.
        later = TokenKeeper(
            world.connections,
            world.oauth,
            clock=lambda: datetime.now(UTC) + timedelta(minutes=56),
        )
        token, version = later.access_token(REALM)

        after = world.connections.company(profile_id)
        assert after is not None
        assert after.tokens is not None
        assert version == after.token_version == before.token_version + 1
        assert token.get_secret_value() == after.tokens.access_token.get_secret_value()
        assert (
            after.tokens.refresh_token.get_secret_value()
            != before.tokens.refresh_token.get_secret_value()
        )
        # The sandbox rotates strictly: the old refresh token is dead, the stored one works.
        assert world.sandbox.oauth.refresh(before.tokens.refresh_token.get_secret_value()) is None
        assert world.sandbox.oauth.realm_of(token.get_secret_value()) == REALM


def test_concurrent_refreshers_rotate_once_and_agree(database_url: str) -> None:
    with qbo_world(database_url) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co")
        connect(world, profile_id, REALM)
        company = world.connections.company(profile_id)
        assert company is not None
        # Two processes: each its own keeper over the same store.
        keepers = [
            TokenKeeper(
                QboConnections(world.store.engine, TokenCipher(world.key)),
                world.oauth,
            )
            for _ in range(2)
        ]
        got: list[str] = []
        barrier = threading.Barrier(2)

        def refresh(keeper: TokenKeeper) -> None:
            barrier.wait()
            token, _ = keeper.refreshed(REALM, company.token_version)
            got.append(token.get_secret_value())

        threads = [threading.Thread(target=refresh, args=(k,)) for k in keepers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        final = world.connections.company(profile_id)
        assert final is not None
        assert final.tokens is not None
        assert final.status == CONNECTED
        assert got == [final.tokens.access_token.get_secret_value()] * 2
        assert final.token_version == company.token_version + 1


def test_a_revoked_connection_shows_reconnect_needed(database_url: str) -> None:
    with qbo_world(database_url) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co")
        connect(world, profile_id, REALM)
        company = world.connections.company(profile_id)
        assert company is not None
        assert company.tokens is not None
        world.oauth.revoke(company.tokens.refresh_token)

        with pytest.raises(ReconnectNeeded, match="connect the company again"):
            world.client.send(QboRequest.query(REALM, "select * from Customer"))

        after = world.connections.company(profile_id)
        assert after is not None
        assert after.status == RECONNECT_NEEDED
        assert after.last_error
        assert "invalid_grant" in after.last_error
        with pytest.raises(ReconnectNeeded, match="connected again"):
            world.keeper.access_token(REALM)
        # Connecting again restores it.
        connect(world, profile_id, REALM)
        again = world.connections.company(profile_id)
        assert again is not None
        assert again.status == CONNECTED
