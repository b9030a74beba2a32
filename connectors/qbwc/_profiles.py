"""Create Web Connector profiles: one company file, one login, stable OwnerID and FileID."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.qbwc._gateway import throttle_key
from connectors.qbwc._passwords import generate_password, hash_password
from connectors.store import Profile, Store, StoreError, Tenant

__all__ = ["NewProfile", "create_profile", "find_profile", "reset_password", "set_enabled"]


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


def find_profile(store: Store, name_or_id: str) -> Profile:
    """A profile by name, id or Web Connector user name; a clear error otherwise."""
    profile = (
        store.profile_by_name(name_or_id)
        or store.profile(name_or_id)
        or store.profile_by_username(name_or_id)
    )
    if profile is None:
        raise StoreError(f"no profile named {name_or_id!r} (try `qbsync profile list`)")
    return profile


def reset_password(store: Store, name_or_id: str) -> NewProfile:
    """A new password; the old one stops working at once. Shown once, stored hashed.

    The file counts as not yet seen with it: the Web Connector's next call is a first
    contact, written at once rather than with the gateway's bulk last-seen writes, so the
    bookkeeper's setup page turns green on that call and not up to a flush period later."""
    profile = find_profile(store, name_or_id)
    password = generate_password()
    updated = store.update_profile(
        profile.id,
        password_hash=hash_password(password),
        failed_logins=0,
        last_failed_login_at=None,
        last_seen_at=None,
    )
    store.login_succeeded(throttle_key(profile.username))  # a fresh start for the new one
    return NewProfile(profile=updated, password=password)


def set_enabled(store: Store, name_or_id: str, *, enabled: bool) -> Profile:
    """Disabled: authenticate answers ``none``; commands keep queueing on the file's topic."""
    return store.update_profile(find_profile(store, name_or_id).id, enabled=enabled)
