"""A throwaway PostgreSQL server for the store's tests (Debian's ``postgresql``; .ci/run installs it).

`postgres_server` (a session fixture; tests/conftest.py makes it and `database_url` available) runs
``initdb`` and ``pg_ctl`` in a temporary folder: no TCP port (``listen_addresses=''``), one Unix socket in
that folder, trust authentication, stopped and removed at the end of the session. PostgreSQL refuses to run
as root, so as root (CI) the server runs as the ``postgres`` system user the Debian package creates. Each
test gets its own database from `fresh_database`; `database_url` runs a test on a SQLite file and on this
server. Without the server programs or the psycopg driver the PostgreSQL cases skip, saying why.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _driver_missing() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install 'psycopg[binary]'; the test extra has it)"
    return None


class Server:
    """A running server: `url(db)` is the SQLAlchemy URL of database `db` on it."""

    def __init__(self, socket_dir: Path, user: str) -> None:
        self.socket_dir, self.user = socket_dir, user
        self._count = 0

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@/{database}?host={self.socket_dir}"

    def fresh_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        with psycopg.connect(host=str(self.socket_dir), user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server programs are not installed (apt-get install postgresql; .ci/run does)")
    missing = _driver_missing()
    if missing:
        pytest.skip(missing)
    root = os.geteuid() == 0
    as_user: list[str] = ["runuser", "-u", "postgres", "--"] if root else []
    user = "postgres" if root else os.environ.get("USER", "postgres")
    home = Path(tempfile.mkdtemp(prefix="ruleengine-pg-"))
    data = home / "data"
    if root:
        shutil.chown(home, "postgres")
    log = home / "server.log"

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {done.stdout}{done.stderr}"
                               + (log.read_text() if log.exists() else ""))

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-c listen_addresses='' -c unix_socket_directories={home} -c fsync=off"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    try:
        yield Server(home, user)
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store database of each kind: a SQLite file, and a database on the throwaway server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server: Server = request.getfixturevalue("postgres_server")
    return server.fresh_database()
