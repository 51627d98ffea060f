"""Page load A/B: the app from two source trees served side by side, their loads alternated, while a LoRA job trains.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/page_load_ab.py BASE_TREE AFTER_TREE [--loads 15]

A tree is a checkout of Adapta (``git archive <commit> | tar -x -C DIR`` and a ``.venv`` link). On a shared machine two
``page_load.py`` runs minutes apart meet different loads; here both apps serve at once (the base tree's with the embedded
worker and ``page_load.py``'s million-step LoRA job, the other with ``--no-worker``) and each round loads both, in turns
(base first, then after first), each in a fresh browser context, so both see the same load. Interactive is
``page_load.py``'s: tabs shown, the first tab's buttons enabled, every start-up event finished. Prints p50 / p95 per tree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--loads", type=int, default=15, help="loads per tree")
    args = parser.parse_args()
    for key, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                       ("GRADIO_ANALYTICS_ENABLED", "False"), ("OMP_NUM_THREADS", "1")):
        os.environ.setdefault(key, value)
    work = Path(tempfile.mkdtemp(prefix="adapta-bench-ab-"))
    os.environ["ADAPTA_HOME"] = str(work / "base-home")

    from playwright.sync_api import sync_playwright

    from bench.page_load import ARGS, INTERACTIVE, LOAD_PROBE, percentile, start_training
    from tests.served_app import run_launch, served_app

    times: dict[str, list[float]] = {"base": [], "after": []}
    with served_app([], home=work / "base-home", cwd=args.base) as base, \
            served_app(["--no-worker"], home=work / "after-home", cwd=args.after) as after:
        job_id = start_training(work, base)
        urls = {"base": base.url, "after": after.url}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            for index in range(args.loads):
                for name in ("base", "after") if index % 2 == 0 else ("after", "base"):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    context.add_init_script(LOAD_PROBE)
                    page = context.new_page()
                    page.goto(urls[name])
                    times[name].append(float(page.wait_for_function(INTERACTIVE, polling="raf", timeout=60_000).json_value()))
                    context.close()
            browser.close()
        run_launch("cancel", str(job_id), home=work / "base-home")
    print(f"\nInteractive, {args.loads} loads per tree, alternated ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end)\n")
    print("| tree | p50 (ms) | p95 (ms) | each load (ms) |")
    print("|---|---:|---:|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.0f} | {percentile(values, 95):.0f} | {', '.join(f'{value:.0f}' for value in values)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
