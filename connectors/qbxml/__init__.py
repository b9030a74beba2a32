"""qbXML: build requests in the exact element order of Intuit's schema; parse answers leniently.

- :func:`build_request` / :func:`build` (Add, Mod), :func:`build_deactivation`,
  :func:`build_query`: one table-driven path for every entity (:data:`ENTITIES`), generated
  from Intuit's XSD and annotated reference (:data:`REQUESTS`);
- :func:`build_message` / :func:`compose_message`: the whole document, for the negotiated
  version (:func:`negotiate_version`);
- :func:`parse_response` / :func:`parse_message`: every ``*Rs`` with its status, records
  and iterator state;
- :func:`explain`: the status-code and HRESULT catalog.

See ``docs/qbxml.md``.
"""

from connectors.qbxml._build import Built, build, build_deactivation, build_request
from connectors.qbxml._catalog import (
    CATALOG,
    HRESULTS,
    VARIANTS,
    Category,
    Explanation,
    Variant,
    explain,
)
from connectors.qbxml._entities import ENTITIES, Action, EntitySpec
from connectors.qbxml._errors import FieldError, QbxmlError, UnsafeXml
from connectors.qbxml._generated import REQUESTS
from connectors.qbxml._message import (
    SUPPORTED_VERSIONS,
    build_message,
    compose_message,
    negotiate_version,
    reported_versions,
)
from connectors.qbxml._parse import (
    Record,
    ResponseMessage,
    ResponseStatus,
    element_fields,
    parse_message,
    parse_response,
)
from connectors.qbxml._query import DELETABLE, PAGE_SIZE, build_deleted_query, build_query
from connectors.qbxml._spec import ChoiceRule, FieldSpec, RequestSpec
from connectors.qbxml._values import clean_text, escape
from connectors.qbxml._xml import decode_xml, parse_xml

# A new line in a Mod (InvoiceLineMod, ItemLineMod ...) has this TxnLineID.
NEW_LINE = "-1"

__all__ = [
    "CATALOG",
    "DELETABLE",
    "ENTITIES",
    "HRESULTS",
    "NEW_LINE",
    "PAGE_SIZE",
    "REQUESTS",
    "SUPPORTED_VERSIONS",
    "VARIANTS",
    "Action",
    "Built",
    "Category",
    "ChoiceRule",
    "EntitySpec",
    "Explanation",
    "FieldError",
    "FieldSpec",
    "QbxmlError",
    "Record",
    "RequestSpec",
    "ResponseMessage",
    "ResponseStatus",
    "UnsafeXml",
    "Variant",
    "build",
    "build_deactivation",
    "build_deleted_query",
    "build_message",
    "build_query",
    "build_request",
    "clean_text",
    "compose_message",
    "decode_xml",
    "element_fields",
    "escape",
    "explain",
    "negotiate_version",
    "parse_message",
    "parse_response",
    "parse_xml",
    "reported_versions",
]
