"""Pure business rules: no I/O, no clock, no randomness (callers pass them in).

One table-driven path for every entity: :data:`ENTITY_RULES` (``streams.rules``) says where
an entity's payload sits, which QuickBooks object it becomes and how its fields become qbXML
values; settings, dates, references, Add vs Mod and building are shared here.

:func:`plan_command` has four outcomes, because the worker must treat them differently:

- a :class:`core.messages.Command`: send it to the company file's topic;
- :class:`Paused`: the tenant's integration is off; hold the event (never drop it) and plan
  it again once the integration is back on ("off pauses, nothing is lost");
- :class:`Skip`: deliberately not sent (entity switched off, manual sync, dated before
  "sync from", a draft or $0 invoice ...); nothing is wrong, log and move on;
- :class:`Waiting`: a referenced record is not in QuickBooks yet; park the event and retry
  when one of ``on`` is mapped;
- :class:`Held`: a class or sales tax code it names does not exist in QuickBooks under that
  exact name; hold it for a person (or until the name exists) instead of sending it to fail;
- :class:`Rejection`: the event can never become a valid request; dead-letter it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from connectors.qbxml import ENTITIES, FieldError, FieldSpec, build_request
from connectors.store import Mapping as IdMapping
from core.conflicts import earlier, winner
from core.messages import Action, Command, QboRequest
from streams.rules import (
    ENTITY_RULES,
    EntityRule,
    NameCheck,
    Refs,
    Resolver,
    customer_name,
    job_name,
)
from streams.tenant_settings import SettingsError, TenantSettings, load_settings

__all__ = [
    "ENTITY_RULES",
    "Context",
    "EntityRule",
    "Held",
    "NameCheck",
    "Outcome",
    "Paused",
    "Rejection",
    "Resolver",
    "Skip",
    "Waiting",
    "Wanted",
    "customer_name",
    "job_name",
    "nothing_known",
    "plan",
    "plan_command",
    "wanted",
]


def nothing_known(_entity: str, _external_id: str) -> IdMapping | None:
    """The default resolver: no referenced record is mapped yet."""
    return None


@dataclass(frozen=True)
class Context:
    """What the worker looked up before calling :func:`plan` (its batch's snapshot of the
    store, read before planning: the functions below are look-ups in it, never queries).

    ``resolve(entity, source_id)`` finds the mapping of a *referenced* record (an invoice's
    customer); the default knows nothing, so every reference by id waits.
    ``exists(entity, full_name)`` says whether a class or sales tax code exists in the
    company file; ``None`` (the default) means "not known": names are sent unchecked.
    """

    profile_id: str | None
    mapping: IdMapping | None
    settings: Mapping[str, Any] | TenantSettings
    resolve: Resolver = field(default=nothing_known)
    exists: NameCheck | None = None
    connected_on: date | None = None  # when the tenant was connected to qbsync
    # Two-way: when QuickBooks last changed a record the app was told about
    # (``(entity, qb_id)``); None when unknown.
    qb_changed_at: Callable[[str, str], datetime | None] | None = None
    # "qbo": the tenant's company is QuickBooks Online; the rule's QBO column is used.
    api: str = "qbxml"


@dataclass(frozen=True)
class Rejection:
    """Why an event becomes a dead letter instead of a command."""

    code: str
    reason: str


@dataclass(frozen=True)
class Skip:
    """Deliberately not sent (a setting or the record's state says so); not an error."""

    code: str
    reason: str


@dataclass(frozen=True)
class Held:
    """Names a class or sales tax code QuickBooks does not have: held with the reason."""

    not_found: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Paused:
    """The tenant's integration is switched off: hold the event until it is on again."""

    reason: str


@dataclass(frozen=True)
class Waiting:
    """Referenced records are not in QuickBooks yet: park the event until they are.

    Each entry of ``on`` is ``"entity:id"``, or alternatives joined by ``|``
    (``"customer:C-1|job:C-1"``: an invoice's customer may be a customer or a job), and is
    satisfied when any of its alternatives is mapped.
    """

    on: tuple[str, ...]
    reason: str


Outcome = Command | Rejection | Held | Paused | Skip | Waiting


@dataclass(frozen=True)
class Wanted:
    """What :func:`plan` will look up for an event: the records it references
    (``(entity, source id)``) and the class or tax code names it checks
    (``(entity, full name)``), so the worker reads them for a whole batch at once."""

    references: frozenset[tuple[str, str]] = frozenset()
    names: frozenset[tuple[str, str]] = frozenset()


class _Asked:
    """A resolver that knows nothing and notes every question (see :func:`wanted`)."""

    def __init__(self) -> None:
        self.references: set[tuple[str, str]] = set()
        self.names: set[tuple[str, str]] = set()

    def resolve(self, entity: str, source_id: str) -> IdMapping | None:
        self.references.add((entity, source_id))
        return None

    def exists(self, entity: str, full_name: str) -> bool:
        self.names.add((entity, full_name))
        return True


def wanted(event: Mapping[str, Any], settings: TenantSettings, *, api: str = "qbxml") -> Wanted:
    """Every reference and name :func:`plan` may look up for ``event``: its rule's values
    built once over a resolver that knows nothing, which asks for every alternative (a
    customer *and* a job) and so for a superset of what planning asks."""
    envelope = event["envelope"]
    rule = ENTITY_RULES.get(envelope["entity"])
    payload = event.get(rule.payload_field) if rule is not None else None
    if rule is None or payload is None or envelope["kind"] == "DEACTIVATED":
        return Wanted()
    shape = rule.qbo if api == "qbo" else None
    asked = _Asked()
    refs = Refs(asked.resolve, asked.exists, settings.tax_code)
    # Whatever fails here fails again in planning, which says why.
    with contextlib.suppress(Exception):
        (shape.values if shape else rule.values)(payload, settings, refs)
    return Wanted(frozenset(asked.references), frozenset(asked.names))


def _dated(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _fit(values: Mapping[str, Any], spec: FieldSpec) -> dict[str, Any]:
    """Add-form values reshaped for a Mod: ``XLineAdd`` lists become ``XLineMod`` with
    ``TxnLineID`` -1 (the Mod replaces every line), ``SalesOrPurchase`` becomes
    ``SalesOrPurchaseMod``, and elements a Mod cannot carry are left out."""
    known = spec.by_name
    fitted: dict[str, Any] = {}
    for key, value in values.items():
        name = key
        if name not in known:
            base = name.removesuffix("Add")
            name = next((n for n in (f"{base}Mod", f"{name}Mod") if n in known), "")
        if not name or value is None:
            continue
        child = known[name][1]
        if isinstance(value, list):
            new_line = "TxnLineID" in child.by_name
            fitted[name] = [
                ({"TxnLineID": "-1"} if new_line else {}) | _fit(item, child) for item in value
            ]
        elif isinstance(value, Mapping) and child.children and not name.endswith("Ref"):
            fitted[name] = _fit(value, child)
        else:
            fitted[name] = value
    return fitted


def _may_exist(
    settings: TenantSettings,
    context: Context,
    payload: Mapping[str, Any] | None,
    rule: EntityRule,
    *,
    is_transaction: bool,
) -> bool:
    """Whether an Add should first look for the record in QuickBooks (``match_existing``).

    Why "dated before the tenant was connected" by default: those are the records a
    bookkeeper may have entered by hand before the integration existed (the seeds' warning
    about duplicates on the first sync); a transaction made in the app afterwards is new,
    and matching it by RefNumber alone could adopt an unrelated one that reuses the number.
    """
    policy = settings.match_existing
    if policy == "never":
        return False
    if not is_transaction or policy == "always":
        return True
    day = _dated(payload.get(rule.date_field)) if payload and rule.date_field else None
    return day is not None and context.connected_on is not None and day < context.connected_on


def _gate(
    rule: EntityRule,
    entity: str,
    kind: str,
    settings: TenantSettings,
) -> Paused | Skip | None:
    """The tenant-level switches, before anything about the record itself."""
    if not settings.enabled:
        return Paused("the tenant's integration is switched off")
    if not getattr(settings.entities, rule.group):
        return Skip("entity-off", f"the tenant does not sync {rule.group.replace('_', ' ')}")
    if settings.direction_of(entity) == "from_quickbooks":
        return Skip("direction", f"{entity} records flow from QuickBooks to the app only")
    if settings.sync_type == "manual" and kind == "UPSERTED":
        return Skip("manual-sync", "manual sync: sent only when a sync is requested")
    return None


# Records qbsync matches to existing QuickBooks records and never creates: a reference to
# one waits until a person maps it, not until a sync adds it.
MATCHED_ONLY = frozenset(
    {"account", "class", "terms", "sales_tax_code", "sales_tax_item", "payment_method", "cost_code"}
)


def _waiting_reason(tenant_id: str, missing: list[str]) -> str:
    """What an event waits for, and for a record qbsync never creates, how to map it."""
    parts = []
    for wanted in missing:
        entity, _, entity_id = wanted.partition(":")
        if "|" not in wanted and entity in MATCHED_ONLY:
            parts.append(
                f"{wanted}, which has no QuickBooks {entity.replace('_', ' ')} mapped (qbsync"
                f" never creates one: map it with `qbsync map match --tenant {tenant_id}"
                f" --entity {entity} --id {entity_id} --qb-id <ListID>`)"
            )
        else:
            parts.append(f"{wanted} to be in QuickBooks")
    return "waiting for " + "; ".join(parts)


def plan_command(
    event: Mapping[str, Any], context: Context, *, command_id: str, now: datetime
) -> Command | Rejection:
    """The original two-outcome API, kept until the worker handles the others: a
    :class:`Skip`, :class:`Waiting`, :class:`Paused` or :class:`Held` comes back as a
    :class:`Rejection` with code ``skip:<code>``, ``waiting``, ``paused`` or ``held``, so
    nothing is sent that should not be. New callers use :func:`plan`."""
    outcome = plan(event, context, command_id=command_id, now=now)
    if isinstance(outcome, Skip):
        return Rejection(f"skip:{outcome.code}", outcome.reason)
    if isinstance(outcome, Waiting):
        return Rejection("waiting", outcome.reason)
    if isinstance(outcome, Paused):
        return Rejection("paused", outcome.reason)
    if isinstance(outcome, Held):
        return Rejection("held", outcome.reason)
    return outcome


def plan(event: Mapping[str, Any], context: Context, *, command_id: str, now: datetime) -> Outcome:
    """Turn one decoded event into one Command record, or say why not (see module doc)."""
    envelope = event["envelope"]
    entity = envelope["entity"]
    rule = ENTITY_RULES.get(entity)
    if rule is None:
        return Rejection("unsupported-entity", f"qbsync does not sync {entity!r} records yet")
    shape = rule.qbo if context.api == "qbo" else None
    if context.api == "qbo" and shape is None:
        return Rejection(
            "unsupported-entity",
            f"qbsync does not sync {entity!r} records to QuickBooks Online yet",
        )
    if context.api != "qbo" and not rule.desktop:
        return Rejection(
            "unsupported-entity",
            f"qbsync creates {entity!r} records in QuickBooks Online only; in QuickBooks"
            f" Desktop map the existing one (qbsync map match --entity {entity})",
        )
    if context.profile_id is None:
        return Rejection(
            "unknown-tenant",
            f"tenant {envelope['tenant_id']!r} is not connected to a QuickBooks company file",
        )
    try:
        settings = (
            context.settings
            if isinstance(context.settings, TenantSettings)
            else load_settings(dict(context.settings))
        )
    except SettingsError as exc:
        return Rejection("invalid-settings", str(exc))
    kind = envelope["kind"]
    gated = _gate(rule, entity, kind, settings)
    if gated is not None:
        return gated
    mapping = context.mapping
    payload = event.get(rule.payload_field)
    refs = Refs(context.resolve, context.exists, settings.tax_code)
    if kind == "DEACTIVATED":
        if mapping is None:
            return Rejection(
                "not-in-quickbooks",
                f"{entity} {envelope['entity_id']!r} was never synced, so there is nothing"
                " to deactivate",
            )
        values: dict[str, Any] = {"Active": False} if shape else {"IsActive": False}
    else:
        if payload is None:
            return Rejection("missing-payload", f"a {kind.lower()} event needs its {entity} data")
        missing_setting = rule.requires(settings)
        if missing_setting is not None:
            return Rejection("missing-setting", missing_setting)
        day = _dated(payload.get(rule.date_field)) if rule.date_field else None
        if settings.sync_from is not None and day is not None and day < settings.sync_from:
            return Skip(
                "before-sync-from",
                f"dated {day.isoformat()}, before the tenant's sync-from date"
                f" {settings.sync_from.isoformat()}",
            )
        withhold = shape.withhold if shape is not None and shape.withhold else rule.skip
        reason = withhold(payload, settings)
        if reason is not None:
            return Skip("not-sendable", reason)
        refused = rule.refuse(payload, settings)
        if refused is not None:
            return Rejection("missing-field", refused)
        if (invalid := rule.invalid(payload)) is not None:
            return Rejection("invalid-field", invalid)
        if shape is not None and (refused := shape.refuse(payload)) is not None:
            return Rejection("refused-by-rule", refused)
        if shape is not None and (reason := shape.skip(payload)) is not None:
            return Skip("not-sendable", reason)
        values = (shape.values if shape else rule.values)(payload, settings, refs)
        if refs.missing:
            return Waiting(
                tuple(refs.missing), _waiting_reason(envelope["tenant_id"], refs.missing)
            )
        if refs.not_found:
            return Held(
                tuple(refs.not_found),
                "; ".join(f"{name} not found in QuickBooks" for name in refs.not_found),
            )
    if shape is not None and shape.once and mapping is not None and kind == "UPSERTED":
        return Skip("synced-once", shape.once)
    two_way = mapping is not None and settings.direction_of(entity) == "two_way"
    if two_way and mapping is not None and kind == "UPSERTED":
        superseded = _superseded(entity, envelope["source_updated_at"], mapping, context, settings)
        if superseded is not None:
            return superseded
    target = rule.target(payload, settings)
    deactivate = kind == "DEACTIVATED"
    qbo_request = shape.request(values, mapping, deactivate=deactivate) if shape else None
    action: Action
    try:
        if qbo_request is not None:
            request, action = "", ("ADD" if mapping is None else "MOD")
        elif mapping is None:
            request = build_request(target, "Add", values)
            action = "ADD"
        else:
            mod = ENTITIES[target].request("Mod").body
            request = build_request(
                target,
                "Mod",
                _fit(values, mod),
                qb_id=mapping.qb_id,
                edit_sequence=mapping.edit_sequence,
            )
            action = "MOD"
    except FieldError as exc:
        reason = str(exc)
        if "SalesTaxCodeRef" in reason:
            reason += (
                ": QuickBooks sales tax codes are 3-character codes; map the app's name to one"
                f" with `qbsync tenant set {envelope['tenant_id']} sales_tax_codes.<name>=<code>`"
            )
        return Rejection("invalid-field", reason)
    return Command(
        match_existing=action == "ADD"
        and _may_exist(
            settings, context, payload, rule, is_transaction=not ENTITIES[target].is_list
        ),
        command_id=command_id,
        event_id=str(envelope["event_id"]),
        tenant_id=envelope["tenant_id"],
        profile_id=context.profile_id,
        entity=entity,
        entity_id=envelope["entity_id"],
        action=action,
        request_xml=request,
        created_at=now,
        depends_on=tuple(refs.depends_on),
        # Two-way: the gateway decides a 3200 (QuickBooks changed it meanwhile) with these.
        source_updated_at=envelope["source_updated_at"] if two_way else None,
        conflict_policy=settings.conflict_of(entity) if two_way else None,
        qbo=QboRequest.from_avro(qbo_request.to_avro()) if qbo_request else None,
        occurred_at=envelope["occurred_at"],
    )


def _superseded(
    entity: str,
    app_changed_at: datetime,
    mapping: IdMapping,
    context: Context,
    settings: TenantSettings,
) -> Skip | None:
    """An app change made before a QuickBooks change the app was sent since: both sides
    changed the record; when QuickBooks' version wins, the app's is not written."""
    if context.qb_changed_at is None:
        return None
    qb_changed_at = context.qb_changed_at(entity, mapping.qb_id)
    if qb_changed_at is None or not earlier(app_changed_at, qb_changed_at):
        return None
    policy = settings.conflict_of(entity)
    if winner(policy, app_changed_at, qb_changed_at) == "app":
        return None
    return Skip(
        "conflict",
        f"QuickBooks changed this {entity} at {qb_changed_at.isoformat()}, after the app's"
        f" change at {app_changed_at.isoformat()}; under conflict policy {policy!r} QuickBooks'"
        " version stands (it was sent to the app as a change)",
    )
