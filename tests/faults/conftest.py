"""Private PostgreSQL clusters and Redis servers that fault tests may restart, stop or freeze.

Never the machine's shared services: each fixture starts its own on a free port in a
temporary folder and removes it at teardown.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import _migrate, free_port, wait_for_port

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1:] or [""]


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class PrivatePostgres:
    """A throwaway PostgreSQL cluster the test controls."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/webriskops"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres(
                [f"{PG_BIN[0]}/pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), *args]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("start", "-w", "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` ends sessions; ``immediate`` is a crash)."""
        self._ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        """Stop with ``fast`` (every connection is ended) and start again."""
        self.stop()
        self.start()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test only, with the app's schema migrated."""
    if not PG_BIN[0]:
        pytest.skip("needs PostgreSQL server binaries")
    folder = Path(tempfile.mkdtemp(prefix="wro-pg-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(folder, postgres.pw_uid, postgres.pw_gid)
    server = PrivatePostgres(folder, free_port())
    subprocess.run(
        _as_postgres(
            [f"{PG_BIN[0]}/initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust", "-N"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{server.port}/postgres", autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE webriskops")
        _migrate(server.url)
        yield server
    finally:
        subprocess.run(
            _as_postgres(
                [f"{PG_BIN[0]}/pg_ctl", "-D", str(server.data), "stop", "-m", "immediate"]
            ),
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


class PrivateRedis:
    """A throwaway redis-server the test can freeze (SIGSTOP) and thaw (SIGCONT)."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT."""
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test only."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrivateRedis(process, port)
    try:
        wait_for_port(port)
        yield server
    finally:
        server.thaw()
        process.terminate()
        process.wait(10)
