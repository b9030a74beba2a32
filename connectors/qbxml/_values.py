"""Turn Python values into qbXML text, or say exactly why not.

Every rule here exists because QuickBooks would otherwise refuse the request, or worse,
accept something other than what was meant:

- text: characters XML 1.0 cannot carry and QuickBooks cannot store (C0/C1 control
  characters except tab, newline and carriage return; unpaired surrogates; U+FFFE/U+FFFF)
  are removed on purpose; ``& < > "`` are escaped; a carriage return is sent as ``&#13;``
  (an XML parser would turn a raw one into a newline); every non-ASCII character is sent
  as a numeric reference (``&#233;``), so the document is pure ASCII and cannot be
  mis-decoded by any hop between us and QuickBooks (SOAP, the Web Connector, COM);
- money: a ``Decimal`` (or an ``int``), never a float, sent with exactly two decimals; more
  than two significant decimals is an error, not a silent rounding;
- prices, quantities, percentages: a ``Decimal`` with at most five decimals;
- dates ``YYYY-MM-DD``; date-times without fractions of a second; durations ``PT1H30M``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from connectors.qbxml._errors import FieldError
from connectors.qbxml._spec import FieldSpec

__all__ = [
    "PLAIN_SEARCH",
    "Path",
    "clean_text",
    "escape",
    "formatter_for",
    "is_plain",
    "prepared",
    "quick_formatter",
    "spell",
]

_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPECIAL = re.compile(r"[^ !#-%'-;=?-~]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DURATION = re.compile(r"[+\-]?PT(\d+H)?(\d+M)?(\d+S)?")
_GUID = re.compile(r"\{[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}")


def clean_text(value: str) -> str:
    """``value`` without the characters QuickBooks cannot store (see the module docstring)."""
    return _UNSTORABLE.sub("", value)


def escape(text: str) -> str:
    """Escape already-cleaned text for element content or a double-quoted attribute."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text if text.isascii() else text.encode("ascii", "xmlcharrefreplace").decode("ascii")


def prepared(value: Any, limit: int | None) -> str | None:
    """``value`` cleaned and escaped, if it is non-empty text within ``limit`` characters
    once cleaned; otherwise None (the general path then explains or truncates)."""
    if type(value) is not str:
        return None
    if _SPECIAL.search(value) is not None:
        value = _UNSTORABLE.sub("", value)
        if not value or (limit is not None and len(value) > limit):
            return None
        return escape(value)
    if not value or (limit is not None and len(value) > limit):
        return None
    return value


class _Invalid(ValueError):
    """A value a formatter refuses; :func:`formatter_for` adds the element path."""


# A path is built lazily as nested ``(parent, name)`` tuples and only spelled out for an
# error or a warning: most values are fine, and joining strings for each one costs time.
Path = tuple[Any, str] | str


def spell(path: Path) -> str:
    """``(("InvoiceAdd", "InvoiceLineAdd[0]"), "Amount")`` → ``InvoiceAdd/InvoiceLineAdd[0]/Amount``"""  # noqa: E501
    parts: list[str] = []
    while isinstance(path, tuple):
        path, name = path
        parts.append(name)
    parts.append(path)
    return "/".join(reversed(parts))


def is_plain(text: str) -> bool:
    """True when ``text`` is printable ASCII without ``& < > "``: it goes out as it is."""
    return _SPECIAL.search(text) is None


# ``PLAIN_SEARCH(text) is None`` is :func:`is_plain` without the call, for the hot loop.
PLAIN_SEARCH = _SPECIAL.search


def _bool(field: FieldSpec, value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    raise _Invalid(f"expected true or false, got {value!r}")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        hint = " (floats are not exact: pass a Decimal)" if isinstance(value, float) else ""
        raise _Invalid(f"expected a Decimal, got {value!r}{hint}")
    number = Decimal(value)
    if not number.is_finite():
        raise _Invalid(f"{value!r} is not a number QuickBooks can store")
    return number


def _places(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < 0:
        return -exponent
    return 0


def _amount(field: FieldSpec, value: Any) -> str:
    quick = _quick_amount(value)
    if quick is not None:
        return quick
    number = _decimal(value)
    if _places(number) > 2 and _places(number.normalize()) > 2:
        raise _Invalid(f"{value!r} has more than 2 decimals; round it before sending it")
    text = f"{number:.2f}"
    if len(text.lstrip("+-").split(".")[0]) > 13:
        raise _Invalid(f"{value!r} is too large for QuickBooks (13 digits at most)")
    return text


def _fraction(field: FieldSpec, value: Any) -> str:
    quick = _quick_fraction(value)
    if quick is not None:
        return quick
    number = _decimal(value)
    places = _places(number)
    if places > 5:
        number = number.normalize()
        places = _places(number)
        if places > 5:
            raise _Invalid(f"{value!r} has more than 5 decimals")
    text = f"{number:.{places}f}"
    if len(text.lstrip("+-").split(".")[0]) > 10:
        raise _Invalid(f"{value!r} is too large for QuickBooks (10 digits at most)")
    return text


def _float(field: FieldSpec, value: Any) -> str:
    return f"{_decimal(value):f}"


def _int(field: FieldSpec, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"expected a whole number, got {value!r}")
    return str(value)


def _date(field: FieldSpec, value: Any) -> str:
    if isinstance(value, datetime):
        raise _Invalid(f"expected a date, got the date-time {value!r}")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _Invalid(f"expected a date YYYY-MM-DD, got {value!r}")


def _datetime(field: FieldSpec, value: Any) -> str:
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        offset = value.utcoffset()
        if offset is not None:
            minutes = int(offset.total_seconds()) // 60
            sign = "-" if minutes < 0 else "+"
            text += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        return text
    if isinstance(value, date):
        return value.isoformat()
    raise _Invalid(f"expected a datetime, got {value!r}")


def _duration(field: FieldSpec, value: Any) -> str:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds) or seconds < 0:
            raise _Invalid(f"{value!r} must be a whole, positive number of seconds")
        hours, rest = divmod(int(seconds), 3600)
        return f"PT{hours}H{rest // 60}M{rest % 60}S"
    if isinstance(value, str) and _DURATION.fullmatch(value):
        return value
    raise _Invalid(f"expected a timedelta or PT#H#M#S, got {value!r}")


def _enum(field: FieldSpec, value: Any) -> str:
    if value not in field.values:
        raise _Invalid(f"{value!r} is not one of {', '.join(field.values)}")
    return str(value)


def _guid(field: FieldSpec, value: Any) -> str:
    if isinstance(value, UUID):
        return "{" + str(value).upper() + "}"
    if isinstance(value, str) and (value == "0" or _GUID.fullmatch(value)):
        return value
    raise _Invalid(f"expected a UUID or {{XXXXXXXX-XXXX-...}}, got {value!r}")


_FORMATTERS: dict[str, Callable[[FieldSpec, Any], str]] = {
    "bool": _bool,
    "date": _date,
    "datetime": _datetime,
    "duration": _duration,
    "amount": _amount,
    "price": _fraction,
    "quantity": _fraction,
    "percent": _fraction,
    "float": _float,
    "int": _int,
    "enum": _enum,
    "guid": _guid,
}


def formatter_for(field: FieldSpec) -> Callable[[Any, Path, str], str]:
    """A function giving the text of one non-text leaf (text has its own rules in ``_build``);
    its errors name the element path."""
    kind = _FORMATTERS[field.kind]

    def formatted(value: Any, path: Path, name: str) -> str:
        try:
            return kind(field, value)
        except _Invalid as exc:
            raise FieldError(f"{spell((path, name))}: {exc}") from None

    return formatted


def _quick_amount(value: Any) -> str | None:
    """An amount already written with exactly two places ("1020.00", "-0.50")."""
    if type(value) is Decimal:
        text = str(value)
        if text[-3:-2] == "." and "E" not in text and len(text.lstrip("-")) <= 16:
            return text
    return None


def _quick_fraction(value: Any) -> str | None:
    """Plain notation, at most 5 places and 10 digits before them."""
    if type(value) is Decimal:
        text = str(value)
        whole, _, places = text.lstrip("-").partition(".")
        if "E" not in text and len(places) <= 5 and len(whole) <= 10:
            return text
    return None


def _quick_bool(value: Any) -> str | None:
    return "true" if value is True else "false" if value is False else None


def _quick_date(value: Any) -> str | None:
    return value.isoformat() if type(value) is date else None


def _quick_int(value: Any) -> str | None:
    return str(value) if type(value) is int else None


_QUICK: dict[str, Callable[[Any], str | None]] = {
    "amount": _quick_amount,
    "price": _quick_fraction,
    "quantity": _quick_fraction,
    "percent": _quick_fraction,
    "bool": _quick_bool,
    "date": _quick_date,
    "int": _quick_int,
}


def quick_formatter(field: FieldSpec) -> Callable[[Any], str | None] | None:
    """A formatter for the commonest, certainly valid values of ``field``'s kind; it answers
    None for anything else, which then takes the full path with its error messages."""
    if field.kind == "enum":
        allowed = frozenset(field.values)

        def enum(value: Any) -> str | None:
            return value if type(value) is str and value in allowed else None

        return enum
    return _QUICK.get(field.kind)
