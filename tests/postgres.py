"""A throwaway PostgreSQL server for the tests: one per session, one empty database per test.

``postgres_url`` (session scope) starts a private server from the Debian binaries
(``/usr/lib/postgresql/<version>/bin``, installed in CI by ``.ci/install-postgres.sh``): a data folder
in a temporary directory, TCP on 127.0.0.1 with a free port and trust authentication, the Unix socket
in the same temporary directory, ``fsync=off``, ``timezone=UTC``. It never touches the system cluster
or service. PostgreSQL refuses to run as root, so under root every server command runs as the
``postgres`` OS user (``runuser``). Without the binaries (or the psycopg driver) the tests that need
the server are skipped, unless ``CI`` is set: then they fail, so CI cannot silently lose coverage.

``ADAPTA_TEST_POSTGRES_URL`` (a ``postgresql+psycopg://`` URL of a role allowed to CREATE DATABASE)
uses an already running server instead of starting one.

``postgres_db_url`` (function scope) creates a fresh database for the test, points
``ADAPTA_DB_URL`` at it and resets the cached engines; ``fresh_database`` does the creation alone.

To use the fixtures from a test module import them (``from tests.postgres import postgres_db_url``)
or register the module once in the root conftest: ``pytest_plugins = ["tests.postgres"]``.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DATABASE = "adapta_test"
SUPERUSER = "postgres"
EXISTING_SERVER_ENV = "ADAPTA_TEST_POSTGRES_URL"
START_TIMEOUT_S = 60
_names = itertools.count(1)
_server: tuple[str, Callable[[], None]] | None = None


def _unavailable(reason: str) -> None:
    """Skip locally; in CI (``CI`` set) fail, because the PostgreSQL tests must run there."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl, else the one on PATH."""

    def version(initdb: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", Path(initdb).parent.parent.name))

    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True):
        folder = Path(initdb).parent
        if (folder / "pg_ctl").is_file():
            return folder
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).parent / "initdb").is_file():
        return Path(on_path).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_command(args: list[str]) -> list[str]:
    """Root runs the server tools as the ``postgres`` user; anyone else runs them directly."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *args]
    return args


def _run(args: list[str], cwd: Path, what: str) -> None:
    result = subprocess.run(_server_command(args), cwd=cwd, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {' '.join(args)}\n{result.stdout}\n{result.stderr}")


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def start_postgres(tmp_dir: Path, bin_dir: Path | None = None) -> tuple[str, Callable[[], None]]:
    """Start a private server with its data in ``tmp_dir``; return its ``adapta_test`` URL and a stop callable.

    ``tmp_dir`` must be reachable by the ``postgres`` user when running as root (``postgres_url``
    makes one with ``tempfile.mkdtemp`` and hands it over). The stop callable is idempotent; it
    stops the server with ``pg_ctl stop -m immediate`` (no checkpoint: the data is thrown away).
    """
    bin_dir = bin_dir or find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("initdb/pg_ctl not found under /usr/lib/postgresql/*/bin or on PATH")
    tmp_dir = Path(tmp_dir)
    data, log = tmp_dir / "data", tmp_dir / "server.log"
    if os.geteuid() == 0:
        shutil.chown(tmp_dir, SUPERUSER, SUPERUSER)
    os.chmod(tmp_dir, 0o700)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]
    try:
        _run(initdb, cwd=tmp_dir, what="initdb")
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{tmp_dir}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "timezone": "'UTC'",
        "log_timezone": "'UTC'",
    }
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        command = _server_command([str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"])
        subprocess.run(command, cwd=tmp_dir, capture_output=True, timeout=START_TIMEOUT_S)
        shutil.rmtree(tmp_dir, ignore_errors=True)

    for attempt in range(3):  # the free port can be taken between picking it and binding it
        port = _free_port()
        with open(data / "postgresql.auto.conf", "a") as conf:  # written as root: still readable by postgres (0644)
            conf.writelines(f"{key} = {value}\n" for key, value in {**settings, "port": str(port)}.items())
        try:
            _run([str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT_S)], cwd=tmp_dir, what="pg_ctl start")
            break
        except RuntimeError as error:
            if attempt == 2 or "could not bind" not in _log_tail(log):
                stop()
                raise RuntimeError(f"{error}\n--- server log ---\n{_log_tail(log)}") from error
    url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    try:
        _create_database(url.rsplit("/", 1)[0] + "/postgres", DATABASE)
    except BaseException:
        stop()
        raise
    return url, stop


def _create_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def database_name(hint: str) -> str:
    """A unique, safe database name (lowercase, ``[a-z0-9_]``, at most 63 bytes) derived from ``hint``."""
    stem = re.sub(r"[^a-z0-9_]+", "_", hint.lower()).strip("_") or "db"
    suffix = f"_{os.getpid()}_{next(_names)}"
    return ("t_" + stem)[: 63 - len(suffix)] + suffix


def fresh_database(url: str, name: str) -> str:
    """Create a new empty database next to the one in ``url``; return the URL pointing at it."""
    from sqlalchemy.engine import make_url

    name = database_name(name)
    _create_database(url, name)
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _shared_server() -> str:
    """Start the session's server once, even if several modules import the fixture."""
    global _server
    if _server is None:
        existing = os.environ.get(EXISTING_SERVER_ENV)
        if existing:
            _server = (existing, lambda: None)
            return existing
        try:
            import psycopg  # noqa: F401
        except ImportError:
            _unavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')")
        bin_dir = find_bin_dir()
        if bin_dir is None:
            _unavailable("initdb/pg_ctl not found under /usr/lib/postgresql/*/bin (run .ci/install-postgres.sh as root)")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            _unavailable("running as root needs runuser to start the server as the postgres user")
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SUPERUSER)
            except KeyError:
                _unavailable(f"running as root needs the {SUPERUSER!r} OS user (created by the Debian postgresql package)")
        _server = start_postgres(Path(tempfile.mkdtemp(prefix="adapta-pg-")), bin_dir)
        atexit.register(stop_shared_server)  # also when the session ends without fixture teardown
    return _server[0]


def stop_shared_server() -> None:
    global _server
    if _server is not None:
        _server[1]()
        _server = None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the ``adapta_test`` database on the session's private server."""
    started = time.perf_counter()
    url = _shared_server()
    elapsed = time.perf_counter() - started
    if elapsed > 0.05:
        print(f"\n[postgres] server ready in {elapsed:.2f}s: {url}")
    yield url
    stop_shared_server()


@pytest.fixture
def postgres_db_url(request: pytest.FixtureRequest, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh empty database for this test, set as ``ADAPTA_DB_URL`` with the engine cache reset."""
    from storage.db import reset_engines

    url = fresh_database(postgres_url, request.node.name)
    monkeypatch.setenv("ADAPTA_DB_URL", url)
    reset_engines()
    yield url
    reset_engines()
