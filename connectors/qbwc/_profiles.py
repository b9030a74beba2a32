"""Create Web Connector profiles: one company file, one login, stable OwnerID and FileID."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.qbwc._passwords import generate_password, hash_password
from connectors.store import Profile, Store, Tenant

__all__ = ["NewProfile", "create_profile"]


@dataclass(frozen=True)
class NewProfile:
    profile: Profile
    password: str  # shown once; only its hash is stored


def create_profile(
    store: Store,
    *,
    name: str,
    tenants: list[str],
    company_file: str = "",
    username: str | None = None,
) -> NewProfile:
    """Create the profile and its tenants (each tenant id is the source app's)."""
    now = datetime.now(UTC)
    profile_id = uuid.uuid4().hex
    password = generate_password()
    profile = store.add_profile(
        Profile(
            id=profile_id,
            name=name,
            username=username or f"qbsync-{profile_id[:12]}",
            password_hash=hash_password(password),
            owner_id=f"{{{uuid.uuid4()}}}",
            file_id=f"{{{uuid.uuid4()}}}",
            company_file=company_file,
            enabled=True,
            created_at=now,
        )
    )
    for tenant_id in tenants:
        store.add_tenant(
            Tenant(id=tenant_id, name=tenant_id, profile_id=profile_id, settings={}, created_at=now)
        )
    return NewProfile(profile=profile, password=password)
