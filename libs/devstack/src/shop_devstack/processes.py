"""Child processes of the launcher: started in their own session, logged to a file, stopped for sure.

Each child gets its own process group, so a Ctrl-C in the terminal reaches only the launcher,
which then stops the children in order (services, then NATS, then PostgreSQL). On Linux each
child also asks the kernel for SIGTERM when the launcher dies (PR_SET_PDEATHSIG), so even a
`kill -9` of the launcher leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError):
            # state is the field after the parenthesised command name
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file (empty when it doesn't exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def rotate_log(path: Path) -> None:
    """Keep the previous run's log as <name>.log.1 so a fresh run starts with a short file."""
    if path.exists() and not path.is_symlink():
        path.replace(path.with_name(path.name + ".1"))


def timestamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class ChildProcess:
    """One long-running child process with its output appended to a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path | None = None):
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.killed = False  # True when the last stop() had to use SIGKILL

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> int:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"----- shop-dev {timestamp()}: starting {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return self.process.pid

    def returncode(self) -> int | None:
        """None while running; the exit status once it ended (negative: killed by that signal)."""
        return None if self.process is None else self.process.poll()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        """Signal the child's whole process group (it leads one), so helpers it spawned go too."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def wait(self, limit: float) -> bool:
        """Wait up to `limit` seconds for the child to exit; True when it did."""
        deadline = time.monotonic() + limit
        while self.running():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def stop(self, grace: float) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds. Returns the exit status."""
        if self.process is None:
            return None
        self.killed = False
        self.signal(signal.SIGTERM)
        if not await self.wait(grace):
            self.killed = True
            self.signal(signal.SIGKILL)
            await self.wait(5.0)
        return self.process.poll()


async def run_to_completion(argv: Sequence[str], env: Mapping[str, str], log_path: Path, limit: float) -> int:
    """Run a one-shot command (a migration), output appended to `log_path`; its exit status."""
    child = ChildProcess(Path(argv[0]).name, argv, env, log_path)
    child.start()
    try:
        if not await child.wait(limit):
            child.signal(signal.SIGKILL)
            await child.wait(5.0)
            return -int(signal.SIGKILL)
    except asyncio.CancelledError:
        await child.stop(2.0)
        raise
    code = child.returncode()
    return code if code is not None else -1
