"""Every import goes downward: the shell (``qbsync``) over the worker (``streams``) over the
adapters (``connectors``) over the bottom layer (``core``). The contracts are import-linter's,
in ``pyproject.toml`` ([tool.importlinter]); this runs them on the tree, and shows on a
throwaway tree that they do catch an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_every_import_in_the_tree_goes_downward() -> None:
    run = _lint(REPO, REPO / "pyproject.toml")
    assert run.returncode == 0, run.stdout + run.stderr
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    kept = f"Contracts: {len(contracts['contracts'])} kept, 0 broken."
    assert kept in run.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    """The same contracts on a tree of four empty packages, one of which imports upward."""
    for package in ("core", "streams", "qbsync", "connectors"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for adapter in ("sandbox", "qbo_sandbox", "qbwc", "qbo", "kafka", "store", "qbxml"):
        (tmp_path / "connectors" / adapter).mkdir()
        (tmp_path / "connectors" / adapter / "__init__.py").write_text("")
    (tmp_path / "core" / "errors.py").write_text("import qbsync.cli\n")
    (tmp_path / "qbsync" / "cli.py").write_text("")
    (tmp_path / "streams" / "app.py").write_text("from connectors.qbwc import x\n")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    run = _lint(tmp_path, tmp_path / "pyproject.toml")
    assert run.returncode == 1, run.stdout
    assert "core.errors -> qbsync.cli" in run.stdout
    assert "streams.app -> connectors.qbwc" in run.stdout
    assert "2 broken" in run.stdout
