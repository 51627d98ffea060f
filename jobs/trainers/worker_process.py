"""Work a user's input drives, run outside the web server's process: ``python -m <module>`` below the server's priority,
without Hub credentials, stopped after a time limit (the reward preview and its scoring, the data check).

    output = run_module_in_worker("jobs.trainers.rewards", request_json, 20.0, what="scoring the answers",
                                  too_slow="simplify the pattern")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from jobs.errors import AdaptaError

NICENESS = 10
"""Worker processes run at a lower CPU priority than the web server that started them."""
PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""Where ``python -m jobs....`` finds the ``jobs`` package, whatever the server's working directory."""
HUB_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def module_command(module: str) -> list[str]:
    """``nice -n 10 python -m module`` (without ``nice`` where the system has none), so the process runs below the web server
    from its first instruction, before the interpreter and its imports have started."""
    nice = shutil.which("nice")
    return [*([nice, "-n", str(NICENESS)] if nice else []), sys.executable, "-m", module]


def environment_without_hub_tokens() -> dict[str, str]:
    """This process's environment without Hub credentials (a worker process reads nothing from the Hub)."""
    return {name: value for name, value in os.environ.items() if name not in HUB_TOKEN_VARIABLES}


def run_module_in_worker(module: str, request: str, limit_s: float, *, what: str, too_slow: str) -> str:
    """The standard output of :func:`module_command` given ``request`` on stdin. One sentence (:class:`AdaptaError`) when it
    fails ("<what> failed (its last error line)") or runs past ``limit_s`` seconds ("<what> took more than …; <too_slow>")."""
    try:
        done = subprocess.run(module_command(module), input=request, capture_output=True, text=True, timeout=limit_s, check=False,
                              cwd=PROJECT_ROOT, env=environment_without_hub_tokens())
    except subprocess.TimeoutExpired:
        raise AdaptaError(f"{what} took more than {limit_s:.0f} seconds and was stopped; {too_slow}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise AdaptaError(f"{what} failed ({last})")
    return done.stdout
