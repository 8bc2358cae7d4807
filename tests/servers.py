"""Real server processes for end-to-end tests (browser, WebSocket resume, scale-out).

    with LiveServer({"SMARTSUPPORT_REDIS_URL": redis_url}) as server:
        httpx.get(server.url + "/healthz")
        server.stop()     # SIGTERM, like an operator restarting it
        server.start()    # same port, same data directory: a restart

Each server gets a fresh data directory unless ``SMARTSUPPORT_DATA_DIR`` is in ``env``; it
is removed on exit only if LiveServer created it. Output goes to a log file rather than a
pipe (a full pipe would block the server); a server that does not become healthy fails the
test with the tail of that log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import pytest

# A cold start trains or loads the demo's models and ingests its articles: seconds on a quiet
# machine, over a minute on the shared one under a full test run (load average 11-15).
START_TIMEOUT = 240.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """``python -m smartsupport serve`` on 127.0.0.1 in a subprocess."""

    def __init__(self, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.env = dict(env or {})
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._own_data_dir = "SMARTSUPPORT_DATA_DIR" not in self.env
        if self._own_data_dir:
            self.env["SMARTSUPPORT_DATA_DIR"] = tempfile.mkdtemp(prefix="smartsupport-test-")
        self.data_dir = Path(self.env["SMARTSUPPORT_DATA_DIR"])
        fd, log_name = tempfile.mkstemp(prefix="smartsupport-server-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_name)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        """Start the process and wait until GET /healthz answers 200."""
        if self.process is not None:
            raise RuntimeError("the server is already running")
        env = {**os.environ, **self.env}
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting on port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "smartsupport",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.process = None
                pytest.fail(
                    f"the server exited with code {code} while starting:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(
            f"the server did not answer /healthz within {START_TIMEOUT:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL if it hangs). The data directory is kept for start()."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LiveServer:
        try:
            return self.start()
        except BaseException:  # pytest.fail raises a BaseException: clean up either way
            self.__exit__(None, None, None)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
