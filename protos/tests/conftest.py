"""Fixtures of the proto checks: protos/generate.py runs once per session into a temporary folder.

protos/ is put on sys.path so that the tests can import protos/breaking.py (and it protos/generate.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

PROTOS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROTOS))


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding freshly generated code (under shop/) and the descriptor set d.binpb."""
    out = tmp_path_factory.mktemp("protos")
    # The protoc plugins (protoc-gen-mypy) live next to the interpreter in the virtualenv.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run(
        [sys.executable, str(PROTOS / "generate.py"), "--out", str(out), "--descriptor", str(out / "d.binpb")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"protos/generate.py failed:\n{result.stdout}\n{result.stderr}")
    return out


@pytest.fixture(scope="session")
def descriptor_set(generated_dir: Path) -> descriptor_pb2.FileDescriptorSet:
    """The current protos with their imports and source info (comments)."""
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString((generated_dir / "d.binpb").read_bytes())
    return fds
