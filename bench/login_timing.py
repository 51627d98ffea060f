"""Can sign-in time tell which user names exist? Wrong-password logins for existing vs missing names, over real HTTP.

    .venv/bin/python bench/login_timing.py [--tries 20]

Starts ``launch.py --auth --no-worker`` (a real server, temporary data home) with ``--tries`` accounts, then alternates
``POST /login`` with a wrong password for an existing name and for a name that does not exist, ``--tries`` of each. Every
try uses its own name and its own client address (``X-Forwarded-For``, trusted from 127.0.0.1), so the sign-in throttle
never pauses one and every try runs the password check. Then the same comparison in-process on ``storage.users.verify_user``
(what the server's check thread runs), without HTTP. Prints the means and their ratio (goal: within 10 %, a ratio in
0.9-1.1) and writes ``bench/results/login_timing.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.served_app import served_app  # noqa: E402

WRONG = "wrong-password-0"


def alternate(tries: int, existing: Callable[[int], float], missing: Callable[[int], float]) -> tuple[list[float], list[float]]:
    """``tries`` timings of each, interleaved (existing, missing, missing, existing, ...) so that load drifts hit both alike."""
    found: list[float] = []
    absent: list[float] = []
    for index in range(tries):
        order = ((existing, found), (missing, absent)) if index % 2 == 0 else ((missing, absent), (existing, found))
        for measure, into in order:
            into.append(measure(index))
    return found, absent


def summary(found: list[float], absent: list[float]) -> dict[str, float]:
    existing_mean, missing_mean = statistics.mean(found), statistics.mean(absent)
    return {"existing_mean_s": round(existing_mean, 4), "missing_mean_s": round(missing_mean, 4),
            "existing_median_s": round(statistics.median(found), 4), "missing_median_s": round(statistics.median(absent), 4),
            "ratio_missing_over_existing": round(missing_mean / existing_mean, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="adapta-login-timing-")) / "home"
    os.environ["ADAPTA_HOME"] = str(home)
    from storage import users

    names = [f"user{index:02d}" for index in range(args.tries)]
    for name in names:
        users.add_user(name, f"{name}-password-1")

    with served_app(["--auth", "--no-worker"], home=home) as app, httpx.Client(base_url=app.url, timeout=120) as client:
        client.get("gradio_api/app_id")

        def login(name: str, address: str) -> float:
            started = time.perf_counter()
            response = client.post("login", data={"username": name, "password": WRONG}, headers={"X-Forwarded-For": address})
            elapsed = time.perf_counter() - started
            if response.status_code != 400 or "Retry-After" in response.headers:
                raise SystemExit(f"unexpected answer {response.status_code} {response.headers.get('Retry-After')}: {response.text[:200]}")
            return elapsed

        login("warm-up", "10.9.9.9")
        http = summary(*alternate(args.tries, lambda i: login(names[i], f"10.1.0.{i + 1}"), lambda i: login(f"nobody{i:02d}", f"10.2.0.{i + 1}")))

    def check(name: str) -> float:
        started = time.perf_counter()
        users.verify_user(name, WRONG)
        return time.perf_counter() - started

    direct = summary(*alternate(args.tries, lambda i: check(names[i]), lambda i: check(f"nobody{i:02d}")))
    result = {"tries": args.tries, "http_login": http, "verify_user": direct}
    print(f"wrong-password sign-in, {args.tries} tries each (existing vs missing name):")
    for label, numbers in (("POST /login", http), ("verify_user", direct)):
        print(f"  {label:12s} existing {numbers['existing_mean_s'] * 1000:7.1f} ms   missing {numbers['missing_mean_s'] * 1000:7.1f} ms   "
              f"ratio {numbers['ratio_missing_over_existing']:.3f}  (goal 0.9-1.1)")
    out = ROOT / "bench" / "results" / "login_timing.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if 0.9 <= http["ratio_missing_over_existing"] <= 1.1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
