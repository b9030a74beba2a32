"""``<data dir>/run.json``: what ``qbsync run`` writes and the other commands read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.errors import ConfigurationError
from qbsync._local_run import LocalRun, read_run_file, remove_run_file, write_run_file


def this_run(**changes: object) -> LocalRun:
    values: dict[str, object] = {
        "bootstrap_servers": "127.0.0.1:40123",
        "gateway_url": "http://127.0.0.1:8080",
        "worker_web_port": 6066,
        "pid": os.getpid(),  # a live process
    }
    values.update(changes)
    return LocalRun(**values)  # type: ignore[arg-type]


def test_written_as_the_agreed_json_and_read_back(tmp_path: Path) -> None:
    path = write_run_file(tmp_path / "data", this_run())
    assert path == tmp_path / "data" / "run.json"
    assert json.loads(path.read_text()) == {
        "bootstrap_servers": "127.0.0.1:40123",
        "gateway_url": "http://127.0.0.1:8080",
        "worker_web_port": 6066,
        "pid": os.getpid(),
        "children": {},
    }
    found = read_run_file(tmp_path / "data")
    assert found == this_run()
    assert found is not None
    assert found.soap_url == "http://127.0.0.1:8080/qbwc"
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["run.json"]  # no partial file


def test_a_gateway_url_with_its_soap_path_is_accepted(tmp_path: Path) -> None:
    write_run_file(tmp_path, this_run(gateway_url="http://127.0.0.1:8080/qbwc"))
    found = read_run_file(tmp_path)
    assert found is not None
    assert found.soap_url == "http://127.0.0.1:8080/qbwc"


def test_no_file_is_no_run(tmp_path: Path) -> None:
    assert read_run_file(tmp_path) is None


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"bootstrap_servers": "x"')
    with pytest.raises(ConfigurationError, match=r"run\.json is not a run file") as raised:
        read_run_file(tmp_path)
    assert "delete it" in str(raised.value)


def test_only_its_own_run_removes_the_file(tmp_path: Path) -> None:
    write_run_file(tmp_path, this_run())
    remove_run_file(tmp_path, pid=os.getpid() + 1)  # another run's exit
    assert read_run_file(tmp_path) == this_run()
    remove_run_file(tmp_path, pid=os.getpid())
    assert not (tmp_path / "run.json").exists()
    remove_run_file(tmp_path, pid=os.getpid())  # twice is harmless
