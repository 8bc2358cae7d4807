"""Throwaway Redis and PostgreSQL servers that a test may stop, restart or kill.

The shared servers (TEST_REDIS_URL, TEST_POSTGRES_URL) are never restarted by a test; these
are started from the distribution's binaries on a free port in a temporary directory:

    with ThrowawayRedis() as redis:          redis.url, redis.restart(), redis.stop()
    with ThrowawayPostgres() as pg:          pg.url, pg.restart(), pg.stop(), pg.start()

PostgreSQL refuses to run as root, so its directory belongs to the ``postgres`` user and its
tools run as that user (like scripts/test). A binary that is missing fails the test loudly.
"""

from __future__ import annotations

import asyncio
import glob
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} within {within:g} s")


class _Throwaway:
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, stay down ``down_for`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_for)
        self.start()


class ThrowawayRedis(_Throwaway):
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="smartsupport-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # No persistence: a restart comes back empty, like a Redis that lost its memory.
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: _listening(self.port), 10, "the throwaway Redis did not listen")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()
        _wait(lambda: not _listening(self.port), 10, "the throwaway Redis did not stop")

    def close(self) -> None:
        if self.process is not None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawayPostgres(_Throwaway):
    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            pytest.fail("PostgreSQL's server binaries are required (apt-get install postgresql)")
        self.bin = Path(bins[-1])
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="smartsupport-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._initialised = False
        shutil.chown(self.dir, "postgres")

    def _as_postgres(self, *command: str) -> None:
        result = subprocess.run(
            ["su", "postgres", "-c", " ".join(command)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        if not self._initialised:
            self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust")
            self._initialised = True
        options = f"'-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off'"
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "start",
            "-l",
            str(self.dir / "log"),
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast``: connections are terminated (57P01), like a restart; ``immediate``: a
        crash, as in a failover."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class Gate:
    """A TCP proxy in the test's event loop in front of a real server, to cut or half-cut
    the way to it (the server itself keeps running):

        open    bytes flow both ways
        mute    HTTP: a POST reaches the server, its answer is held back and the client
                left waiting (a worker killed while it waits; a lost response)
        down    connections are refused and the open ones cut

    ``stall()`` silences the connections open now, both ways, without closing them (a
    failover or a lost NAT entry); new connections flow.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = "down"
        self.held = 0  # answers held back so far
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._stallable: list[asyncio.Event] = []  # one per connection: set = answers held
        self._stalled: list[asyncio.Event] = []  # ... and requests dropped too

    def stall(self) -> None:
        for holding in self._stallable:
            holding.set()
            self._stalled.append(holding)

    async def set(self, mode: str) -> None:
        if mode == "down":
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in self._writers:
                writer.close()
            self._writers.clear()
        elif self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.mode = mode

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers += [writer, up_writer]
        holding = asyncio.Event()
        self._stallable.append(holding)

        async def requests() -> None:
            while data := await reader.read(65536):
                if self.mode == "mute" and data.startswith(b"POST "):
                    self.held += 1
                    holding.set()
                if holding.is_set() and holding in self._stalled:
                    continue
                up_writer.write(data)
                await up_writer.drain()

        async def answers() -> None:
            while data := await up_reader.read(65536):
                if holding.is_set():
                    continue  # swallowed: the client keeps waiting
                writer.write(data)
                await writer.drain()
            if not holding.is_set():
                writer.close()

        await asyncio.gather(requests(), answers(), return_exceptions=True)
