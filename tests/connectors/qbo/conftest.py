"""What the QBO tests share: the QBO sandbox serving one company, the test module's ``REALM``
(with its ``START_DATE`` when the module names one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.qbo_sandbox import QboSandbox


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[tuple[QboSandbox, str]]:
    """The sandbox over HTTP with the module's company (``REALM``): it and its base URL."""
    value = QboSandbox()
    company = value.add_company(request.module.REALM)
    start = getattr(request.module, "START_DATE", None)
    if start is not None:
        company.start_date = start
    with value.serve() as url:
        yield value, url
