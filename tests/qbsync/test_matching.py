"""Smart matching: exact, then normalized; ambiguity reported, never guessed."""

from __future__ import annotations

from streams.two_way.matching import Candidate, SourceRecord, match_records, normalize


def test_normalize_folds_case_spacing_punctuation_and_company_suffixes() -> None:
    assert normalize("Smith & Sons, Inc.") == normalize("smith  and sons")
    assert normalize("Acme Co. LLC") == "acme"
    assert normalize("Café Olé") == "cafe ole"
    assert normalize("Lovelace, Ada") != normalize("Lovelace, Byron")


def test_exact_first_then_normalized_and_what_stays_unmatched_says_why() -> None:
    candidates = [
        Candidate("Q1", "Lovelace, Ada"),
        Candidate("Q2", "Smith & Sons, Inc."),
        Candidate("Q3", "Hopper"),
        Candidate("Q4", "hopper"),  # two normalized candidates for "HOPPER"
        Candidate("Q5", "Taken Co"),
    ]
    outcome = match_records(
        [
            SourceRecord("c-1", "Lovelace, Ada"),
            SourceRecord("c-2", "smith and sons"),
            SourceRecord("c-3", "HOPPER"),
            SourceRecord("c-4", "Nobody"),
            SourceRecord("c-5", "Taken Co"),  # its candidate is mapped to another record
            SourceRecord("c-6", "Mapped Before"),
        ],
        candidates,
        mapped_sources={"c-6": "Q9"},
        mapped_qb_ids=["Q5", "Q9"],
    )
    assert [(m.source_id, m.qb_id, m.how) for m in outcome.matched] == [
        ("c-1", "Q1", "exact"),
        ("c-2", "Q2", "normalized"),
    ]
    why = dict(outcome.unmatched)
    assert set(why) == {"c-3", "c-4", "c-5"}
    assert "2 QuickBooks records match" in why["c-3"]
    assert "no QuickBooks record matches" in why["c-4"]
    assert outcome.already == ["c-6"]


def test_two_app_records_wanting_one_quickbooks_record_get_neither() -> None:
    outcome = match_records(
        [SourceRecord("a", "Doe"), SourceRecord("b", "DOE")],
        [Candidate("Q1", "Doe")],
        mapped_sources={},
        mapped_qb_ids=[],
    )
    assert outcome.matched == []
    assert [s for s, _ in outcome.unmatched] == ["a", "b"]
    assert all("wanted by" in why for _, why in outcome.unmatched)
