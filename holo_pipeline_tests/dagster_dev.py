"""A real ``dagster dev`` (webserver + daemon) for end-to-end tests and the daemon benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webserver_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class DagsterDev:
    """``dagster dev -w workspace.yaml`` on a free port with ``env``, its output in ``log``.

    Use as a context manager: entering waits for the webserver, leaving stops the process group.
    """

    def __init__(self, env: Mapping[str, str], log: Path, *, timeout_s: float = 480) -> None:
        self.env, self.log, self.timeout_s = dict(env), Path(log), timeout_s
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> DagsterDev:
        dagster = Path(sys.executable).with_name("dagster")
        command = [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1"]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [*command, "-p", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.wait(lambda: webserver_up(self.port), "the webserver")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text()[-n:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, predicate: Callable[[], bool], what: str, *, poll_s: float = 1.0) -> None:
        """Wait until ``predicate()``; ``RuntimeError`` if dagster dev exits, ``TimeoutError``."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"dagster dev exited:\n{self.tail()}")
            if predicate():
                return
            time.sleep(poll_s)
        raise TimeoutError(
            f"timed out after {self.timeout_s:.0f} s waiting for {what}:\n{self.tail()}"
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
