"""Start ``launch.py`` (the whole app) as a real subprocess on a free loopback port, and stop it with its process group.

    with served_app(["--auth", "--no-worker"], home=tmp_path) as app:
        Client(app.url, auth=("alice", "password"))
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServedApp:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def run_launch(*args: str, home: Path, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python launch.py ARGS`` to completion, with ``home`` as the data home."""
    full_env = {**os.environ, "ADAPTA_HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], capture_output=True, text=True, env=full_env, input=stdin,
                          timeout=300)


def add_accounts(home: Path, passwords: dict[str, str]) -> None:
    """``launch.py adduser`` for each name and password, into ``home``'s users.json."""
    for name, password in passwords.items():
        done = run_launch("adduser", name, home=home, stdin=password + "\n")
        assert done.returncode == 0, done.stderr


@contextmanager
def served_app(args: list[str], home: Path, env: dict[str, str] | None = None, start_timeout: float = 120,
               cwd: Path | None = None) -> Iterator[ServedApp]:
    """The app serving until the block ends (started in ``cwd``, default this one); its output goes to ``<home>/../app-<port>.log``
    (shown when it fails to start)."""
    port = free_port()
    log = home.parent / f"app-{port}.log"
    full_env = {**os.environ, "ADAPTA_HOME": str(home), "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *args, "--port", str(port)], env=full_env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
    app = ServedApp(process, port, log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                with urllib.request.urlopen(app.url, timeout=5):
                    break
            except urllib.error.HTTPError:
                break  # it answers (a sign-in page may say 401)
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the app did not start:\n{log.read_text(errors='replace')[-3000:]}") from None
                time.sleep(0.5)
        yield app
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:  # it had exited, with its whole group (an app that failed to start): its message above stands
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
