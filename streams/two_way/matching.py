"""Smart matching of an app's records to records already in QuickBooks (pure logic).

The seeds' users fear duplicates on the first sync: a company file already holds the
customers, vendors and invoices the app is about to send. Before anything is created,
support matches them: each source record (its id and its name, or its RefNumber for a
transaction) against the file's imported records, exactly first, then normalized (case,
spacing, punctuation, "&" / "and", a trailing "Inc." or "LLC"). A candidate that two source
records want, or a source record with two candidates, is not guessed: it is reported.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Candidate", "Match", "Outcome", "SourceRecord", "match_records", "normalize"]

_SUFFIXES = re.compile(
    r"\b(incorporated|inc|llc|l l c|ltd|limited|co|corp|corporation|company)$", re.IGNORECASE
)


def normalize(text: str) -> str:
    """``"Smith & Sons, Inc."`` and ``"smith and sons"`` become the same key."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    folded = folded.replace("&", " and ")
    folded = re.sub(r"[^a-z0-9]+", " ", folded).strip()
    previous = None
    while previous != folded:  # "Acme Co Inc" -> "acme"
        previous = folded
        folded = _SUFFIXES.sub("", folded).strip()
    return folded or text.casefold().strip()


@dataclass(frozen=True)
class SourceRecord:
    """A record of the app: its id and what QuickBooks would call it."""

    source_id: str
    key: str  # a name (lists) or a RefNumber (transactions)


@dataclass(frozen=True)
class Candidate:
    """A record in QuickBooks (from an import)."""

    qb_id: str
    key: str
    edit_sequence: str | None = None


@dataclass(frozen=True)
class Match:
    source_id: str
    qb_id: str
    key: str
    how: str  # "exact" | "normalized"
    edit_sequence: str | None = None


@dataclass(frozen=True)
class Outcome:
    matched: list[Match]
    unmatched: list[tuple[str, str]]  # (source id, why)
    already: list[str]  # source ids mapped before


def match_records(
    sources: Iterable[SourceRecord],
    candidates: Iterable[Candidate],
    *,
    mapped_sources: Mapping[str, str],
    mapped_qb_ids: Iterable[str],
) -> Outcome:
    """Match ``sources`` to ``candidates``. ``mapped_sources`` (source id -> qb id) are left
    alone; QuickBooks records in ``mapped_qb_ids`` are taken already."""
    taken = set(mapped_qb_ids)
    free = [c for c in candidates if c.qb_id not in taken]
    exact: dict[str, list[Candidate]] = {}
    loose: dict[str, list[Candidate]] = {}
    for candidate in free:
        exact.setdefault(candidate.key, []).append(candidate)
        loose.setdefault(normalize(candidate.key), []).append(candidate)
    todo = [s for s in sources if s.source_id not in mapped_sources]
    already = [s.source_id for s in sources if s.source_id in mapped_sources]
    wanted: dict[str, list[tuple[SourceRecord, Candidate, str]]] = {}
    unmatched: list[tuple[str, str]] = []
    for source in todo:
        for how, found in (
            ("exact", exact.get(source.key, [])),
            ("normalized", loose.get(normalize(source.key), [])),
        ):
            if len(found) == 1:
                wanted.setdefault(found[0].qb_id, []).append((source, found[0], how))
                break
            if len(found) > 1:
                unmatched.append(
                    (source.source_id, f"{len(found)} QuickBooks records match {source.key!r}")
                )
                break
        else:
            unmatched.append((source.source_id, f"no QuickBooks record matches {source.key!r}"))
    matched: list[Match] = []
    for qb_id, claims in wanted.items():
        if len(claims) > 1:
            names = ", ".join(repr(source.source_id) for source, _, _ in claims)
            for source, _, _ in claims:
                unmatched.append(
                    (source.source_id, f"the same QuickBooks record is wanted by {names}")
                )
            continue
        source, candidate, how = claims[0]
        matched.append(Match(source.source_id, qb_id, candidate.key, how, candidate.edit_sequence))
    matched.sort(key=lambda m: m.source_id)
    unmatched.sort()
    return Outcome(matched, unmatched, sorted(already))
