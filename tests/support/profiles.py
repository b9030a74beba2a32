"""Profile rows for tests of the store and what reads it: a placeholder password hash
(never checked), no company file."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.store import Profile

__all__ = ["a_profile"]


def a_profile(
    profile_id: str,
    *,
    name: str | None = None,
    username: str | None = None,
    created_at: datetime | None = None,
) -> Profile:
    return Profile(
        id=profile_id,
        name=name or f"{profile_id} co",
        username=username or f"user-{profile_id}",
        password_hash="scrypt$...",
        owner_id="{owner}",
        file_id="{file}",
        company_file="",
        enabled=True,
        created_at=created_at or datetime.now(UTC),
    )
