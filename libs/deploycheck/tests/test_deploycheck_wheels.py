"""The wheelhouse check: a first-party wheel must ship every file of its migrations."""

from __future__ import annotations

import zipfile
from pathlib import Path

from shop_deploycheck.containers import missing_data_files, read_pins, runtime_closure


def test_a_wheel_without_a_migration_is_reported(tmp_path: Path) -> None:
    versions = tmp_path / "src" / "shop_demo" / "migrations" / "versions"
    versions.mkdir(parents=True)
    for name in ("env.py", "script.py.mako", "versions/0001_initial.py", "versions/0002_more.py"):
        (versions.parent / name).write_text("# migration\n")
    wheel = tmp_path / "shop_demo-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in ("env.py", "script.py.mako", "versions/0001_initial.py"):
            archive.writestr(f"shop_demo/migrations/{name}", "# migration\n")
    assert missing_data_files(tmp_path, wheel) == ["shop_demo/migrations/versions/0002_more.py"]


def test_the_runtime_closure_of_the_kit_is_pinned() -> None:
    closure = runtime_closure(["shop-kit"])
    assert {"grpcio", "sqlalchemy", "asyncpg", "shop-protos"} <= closure
    assert "pytest" not in closure  # test tools stay out of the images
    assert not {name for name in closure if not name.startswith("shop-")} - set(read_pins())
