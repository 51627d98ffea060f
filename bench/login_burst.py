"""Does a burst of bad sign-ins slow everyone else down? An unrelated request's latency idle vs during 5 parallel bad logins.

    .venv/bin/python bench/login_burst.py [--idle 20 --bursts 5]

Starts ``launch.py --auth --no-worker`` (a real server, temporary data home, one account made with ``launch.py adduser``),
signs in as that user and measures two unrelated requests, ``GET /gradio_api/app_id`` (tiny) and ``GET /config`` (the page's
whole configuration), sequentially: idle (median of ``--idle``, taken in slices before each burst), and
while 5 bad logins run in parallel (``--bursts`` times; each burst uses new names and new client addresses through
``X-Forwarded-For``, which uvicorn trusts from 127.0.0.1, so every bad login really runs the password check instead of
being throttled). Then times 5 bad logins in a row from one address and the throttled 6th.
Prints the ratio (goal: during-burst median ≤ 2× idle median) and writes ``bench/results/login_burst.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.served_app import run_launch, served_app  # noqa: E402

USER, PASSWORD = "alice", "alice-password-1"
PATHS = ("gradio_api/app_id", "config")  # a tiny answer and the page's whole configuration, both signed in


def timed_get(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    response.raise_for_status()
    return time.perf_counter() - started


def bad_login(client: httpx.Client, name: str, address: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.post("login", data={"username": name, "password": "wrong-password"}, headers={"X-Forwarded-For": address})
    return time.perf_counter() - started, response.status_code


def burst(url: str, client: httpx.Client, index: int, size: int) -> tuple[dict[str, list[float]], list[float]]:
    """``size`` bad logins in parallel (new names, new addresses); the unrelated requests' latencies while they run."""
    results: list[tuple[float, int]] = []
    clients = [httpx.Client(base_url=url, timeout=60) for _ in range(size)]
    for attacker in clients:
        attacker.get("")  # connect before the burst
    start = threading.Barrier(size + 1)

    def one(number: int) -> None:
        start.wait()
        results.append(bad_login(clients[number], f"burst{index}-user{number}", f"10.{index}.0.{number + 1}"))

    threads = [threading.Thread(target=one, args=(number,)) for number in range(size)]
    for thread in threads:
        thread.start()
    start.wait()
    during: dict[str, list[float]] = {path: [] for path in PATHS}
    while any(thread.is_alive() for thread in threads):
        for path in PATHS:
            during[path].append(timed_get(client, path))
    for thread in threads:
        thread.join()
    for attacker in clients:
        attacker.close()
    if any(status != 400 for _, status in results):
        raise SystemExit(f"a bad login did not answer 400: {results}")
    return during, [seconds for seconds, _ in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=20, help="idle samples of the unrelated request")
    parser.add_argument("--bursts", type=int, default=5, help="bursts of parallel bad logins")
    parser.add_argument("--size", type=int, default=5, help="bad logins per burst")
    parser.add_argument("--free", type=int, default=5, help="bad logins in a row before the throttled one")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "login_burst.json")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="adapta-bench-login-")) / "home"
    home.mkdir(parents=True)
    done = run_launch("adduser", USER, home=home, stdin=PASSWORD + "\n")
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    with served_app(["--auth", "--no-worker"], home=home) as app, httpx.Client(base_url=app.url, timeout=60) as client:
        signed_in = client.post("login", data={"username": USER, "password": PASSWORD})
        signed_in.raise_for_status()
        for path in PATHS:
            for _ in range(3):
                timed_get(client, path)  # warm-up
        idle: dict[str, list[float]] = {path: [] for path in PATHS}
        during: dict[str, list[float]] = {path: [] for path in PATHS}
        burst_logins: list[float] = []
        for index in range(args.bursts):  # idle samples before each burst: a shared machine's load drifts
            time.sleep(0.3)
            for _ in range(math.ceil(args.idle / args.bursts)):
                for path in PATHS:
                    idle[path].append(timed_get(client, path))
            latencies, logins = burst(app.url, client, index + 1, args.size)
            for path in PATHS:
                during[path] += latencies[path]
            burst_logins += logins
        with httpx.Client(base_url=app.url, timeout=60) as attacker:
            attacker.get("")
            sequential = [bad_login(attacker, "mallory", "10.255.0.1") for _ in range(args.free + 1)]

    result: dict[str, object] = {"burst_size": args.size, "bursts": args.bursts, "goal_ratio": 2.0,
                                 "burst_login_median_s": statistics.median(burst_logins),
                                 "sequential_bad_logins_s": [seconds for seconds, _ in sequential[:-1]],
                                 "sequential_status": [status for _, status in sequential], "throttled_login_s": sequential[-1][0]}
    print("| unrelated request (signed in) | idle median | during bursts median | during max | ratio (goal ≤ 2×) |\n|---|---:|---:|---:|---:|")
    for path in PATHS:
        idle_median, during_median = statistics.median(idle[path]), statistics.median(during[path])
        result[path] = {"idle_median_s": idle_median, "idle_max_s": max(idle[path]), "idle_samples": len(idle[path]),
                        "during_burst_median_s": during_median, "during_burst_max_s": max(during[path]),
                        "during_burst_samples": len(during[path]), "ratio_median": during_median / idle_median}
        print(f"| GET /{path} | {idle_median * 1000:.1f} ms ({len(idle[path])}) | {during_median * 1000:.1f} ms ({len(during[path])}) | "
              f"{max(during[path]) * 1000:.1f} ms | **{during_median / idle_median:.2f}×** |")
    print(f"\n{args.bursts} bursts of {args.size} parallel bad logins; a bad login during a burst: median "
          f"{result['burst_login_median_s'] * 1000:.0f} ms")
    print(f"{args.free} bad logins in a row from one address: {', '.join(f'{s * 1000:.0f}' for s in result['sequential_bad_logins_s'])} ms; "
          f"the next one: {result['throttled_login_s'] * 1000:.1f} ms (status {sequential[-1][1]})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
