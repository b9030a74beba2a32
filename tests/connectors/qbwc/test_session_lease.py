"""The session row is a lease on the company file: claimed once, moved with each batch's
write, and released by the write that settles the last batch, so closeConnection writes
nothing to it and the file is free for its next session at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.gateway import Served, connector, enqueue, results
from tests.support.statements import counting_statements

pytestmark = pytest.mark.integration

WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+qbwc_sessions\b", re.IGNORECASE)


def test_a_session_writes_its_row_once_plus_twice_per_batch_and_not_at_close(
    served: Served, tmp_path: Path
) -> None:
    enqueue(served, "Ada", "Grace", "Linus")
    wc = connector(served, tmp_path)
    with counting_statements() as statements:
        report = wc.run_once()
    assert (report.authenticate, report.requests, report.last_progress) == ("", 3, 100)
    assert report.closing_message == "Synced 3 records."
    writes = [s.split()[0].upper() for s in statements if WRITE.match(s)]
    # The claim (the expired-row sweep and the insert, one transaction), then per batch
    # its send and its settle; closeConnection only reads the released row.
    assert report.messages >= 1
    assert writes == ["DELETE", "INSERT"] + ["UPDATE", "UPDATE"] * report.messages, writes
    assert len(results(served, 3)) == 3
    # Released: the next poll finds the file free (no "busy"), with nothing to do.
    assert connector(served, tmp_path).run_once().authenticate == "none"
    assert served.store.live_session_count() == 0
