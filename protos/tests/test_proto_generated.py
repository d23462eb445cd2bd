"""The generated code committed under libs/protos/src is what protos/ generates now."""

from __future__ import annotations

from pathlib import Path

COMMITTED = Path(__file__).resolve().parents[2] / "libs" / "protos" / "src" / "shop"
IGNORED = {"py.typed"}


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.name not in IGNORED
    }


def test_committed_generated_code_is_current(generated_dir: Path) -> None:
    fresh = _files(generated_dir / "shop")
    committed = _files(COMMITTED)
    problems = [f"missing: {name}" for name in sorted(fresh.keys() - committed.keys())]
    problems += [f"no longer generated: {name}" for name in sorted(committed.keys() - fresh.keys())]
    problems += [f"stale: {name}" for name in sorted(fresh.keys() & committed.keys()) if fresh[name] != committed[name]]
    assert not problems, "libs/protos/src is out of date; run `make proto`:\n" + "\n".join(problems)
