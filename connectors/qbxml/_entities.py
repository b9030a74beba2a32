"""What each QuickBooks entity looks like on the wire: one table, one build path.

Each :class:`EntitySpec` lists its fields in the exact order of Intuit's schema (qbXML is a
sequence, not a bag). Max lengths come from the XSD (``../shared/qbxml/xsd/13.0``).
Adding an entity means adding a row here, not writing a builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ADDRESS", "ENTITIES", "EntitySpec", "FieldSpec"]

FieldKind = Literal["str", "bool", "group"]


@dataclass(frozen=True)
class FieldSpec:
    element: str
    max_length: int | None = None
    kind: FieldKind = "str"
    children: tuple[FieldSpec, ...] = ()


def _address(element: str) -> FieldSpec:
    return FieldSpec(element, kind="group", children=ADDRESS)


ADDRESS: tuple[FieldSpec, ...] = (
    FieldSpec("Addr1", 41),
    FieldSpec("Addr2", 41),
    FieldSpec("Addr3", 41),
    FieldSpec("Addr4", 41),
    FieldSpec("Addr5", 41),
    FieldSpec("City", 31),
    FieldSpec("State", 21),
    FieldSpec("PostalCode", 13),
    FieldSpec("Country", 31),
    FieldSpec("Note", 41),
)


@dataclass(frozen=True)
class EntitySpec:
    """``name`` is the qbXML object name (``Customer``); ids are ListID (lists) or TxnID."""

    name: str
    id_element: Literal["ListID", "TxnID"]
    fields: tuple[FieldSpec, ...]


ENTITIES: dict[str, EntitySpec] = {
    "customer": EntitySpec(
        name="Customer",
        id_element="ListID",
        fields=(
            FieldSpec("Name", 41),
            FieldSpec("IsActive", kind="bool"),
            FieldSpec("CompanyName", 41),
            FieldSpec("Salutation", 15),
            FieldSpec("FirstName", 25),
            FieldSpec("MiddleName", 5),
            FieldSpec("LastName", 25),
            FieldSpec("JobTitle", 41),
            _address("BillAddress"),
            _address("ShipAddress"),
            FieldSpec("PrintAs", 41),
            FieldSpec("Phone", 21),
            FieldSpec("Mobile", 21),
            FieldSpec("Pager", 21),
            FieldSpec("AltPhone", 21),
            FieldSpec("Fax", 21),
            FieldSpec("Email", 1023),
        ),
    ),
}
