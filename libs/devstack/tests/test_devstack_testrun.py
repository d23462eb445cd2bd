"""`shop-dev test`: a module that starts a stack of its own runs alone, after the folder that holds it,
with its switch on; the folder's own run leaves it out."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop_devstack import testrun


def test_a_module_run_alone_runs_once_after_its_folder_with_its_switch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (module,) = testrun.ALONE
    (switch,) = testrun.ALONE[module]
    (tmp_path / module).parent.mkdir(parents=True)
    (tmp_path / "tests" / "test_plain.py").write_text("def test_plain():\n    pass\n")
    (tmp_path / module).write_text(f"import os\n\ndef test_alone():\n    assert os.environ.get({switch!r}) == '1'\n")
    folders = testrun.discover(tmp_path)
    assert folders == [tmp_path / "tests", tmp_path / module]
    assert testrun.run(tmp_path, folders, ["-p", "no:cacheprovider"]) == 0
    # Run inside the folder's own run, without its switch, the module would have failed.
    assert capsys.readouterr().out.rstrip().endswith("2 passed, 0 failed, 0 skipped")
