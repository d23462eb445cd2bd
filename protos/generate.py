"""Generate Python code from protos/ into libs/protos/src and write the descriptor set.

Usage: python protos/generate.py [--out DIR] [--descriptor FILE]
The default output is the committed location; tests generate into a temporary folder and
compare, so stale generated code fails the build.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
DEFAULT_OUT = REPO_ROOT / "libs" / "protos" / "src"
DEFAULT_DESCRIPTOR = PROTO_ROOT / "build" / "descriptor.binpb"


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "shop").rglob("*.proto"))


def generate(out: Path, descriptor: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    descriptor.parent.mkdir(parents=True, exist_ok=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={descriptor}",
        *proto_files(),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Generated modules import each other as `shop.<svc>.v1`; make every folder a package.
    for folder in [out / "shop", *(p for p in (out / "shop").rglob("*") if p.is_dir())]:
        if folder.name != "__pycache__":
            (folder / "__init__.py").touch()
    (out / "shop" / "py.typed").touch()  # the .pyi stubs from mypy-protobuf are the types


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--descriptor", type=Path, default=DEFAULT_DESCRIPTOR)
    ns = parser.parse_args(argv)
    generate(ns.out, ns.descriptor)
    print(f"generated {len(proto_files())} proto files into {ns.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
