"""`shop-dev test`: a module that starts a stack of its own runs alone, after the folder that holds it,
with its switch on; the folder's own run leaves it out. The second lane (the chart's checks first, then
the lighter services' suites) runs beside the first, and the stacks after both."""

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


WAIT_FOR = """import time
from pathlib import Path

def test_{name}():
    Path({mine!r}).touch()
    deadline = time.monotonic() + 20
    while not Path({theirs!r}).exists():
        assert time.monotonic() < deadline, "the other lane never ran meanwhile"
        time.sleep(0.05)
"""


def test_the_second_lane_runs_beside_the_first_and_the_stacks_after_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, charts, cart = (tmp_path / f for f in ("services/gateway/tests", "charts/shop/tests", "services/cart/tests"))
    system = tmp_path / "tests"
    for folder in (first, charts, cart, system):
        folder.mkdir(parents=True)
    a, b = tmp_path / "first-ran", tmp_path / "charts-ran"
    # Each waits for the other: run one after the other, the first would give up.
    (first / "test_gateway.py").write_text(WAIT_FOR.format(name="gateway", mine=str(a), theirs=str(b)))
    (charts / "test_chart.py").write_text(WAIT_FOR.format(name="chart", mine=str(b), theirs=str(a)))
    # The second lane keeps BESIDE's order (the longest first), not the folders' order.
    (cart / "test_cart.py").write_text(
        f"from pathlib import Path\n\ndef test_cart():\n    assert Path({str(b)!r}).exists()\n"
    )
    after = f"from pathlib import Path\n\ndef test_after():\n    assert Path({str(a)!r}).exists()\n"
    (system / "test_system.py").write_text(after + f"    assert Path({str(b)!r}).exists()\n")

    folders = testrun.discover(tmp_path)
    assert folders.index(cart) < folders.index(charts)
    assert testrun.run(tmp_path, folders, ["-p", "no:cacheprovider"]) == 0

    out = capsys.readouterr().out
    order = ["=== services/gateway/tests", "=== charts/shop/tests", "=== services/cart/tests", "=== tests"]
    assert [out.index(header) for header in order] == sorted(out.index(header) for header in order)
    assert out.rstrip().endswith("4 passed, 0 failed, 0 skipped")


def test_hypothesis_plugin_is_loaded_only_for_suites_that_use_hypothesis(tmp_path: Path) -> None:
    plain, fuzzing = tmp_path / "plain", tmp_path / "fuzzing"
    for folder in (plain, fuzzing):
        folder.mkdir()
    (plain / "test_plain.py").write_text("def test_plain():\n    pass\n")
    (fuzzing / "test_fuzz.py").write_text("from hypothesis import given, strategies\n")
    assert testrun.unused_plugins(plain) == ["-p", "no:hypothesispytest"]
    assert testrun.unused_plugins(fuzzing) == []
