"""What the before/after report costs: its time ÷ the training time of ``examples/smollm2-lora.yaml`` (goal ≤ 0.15).

Trains the planets LoRA on the packaged SmolLM2-135M-Instruct (offline), with the default evaluation caps, then prints
the training time (the trainer's own runtime, per-epoch validation loss included), the report's time (base and adapted
model: answer loss on every held-out row, then greedy answers), their ratio, and the report's headline numbers.

    python bench/eval_cost.py                 # numbers only
    python bench/eval_cost.py --screenshot    # also docs/screenshot-report.png: the Jobs tab's report panel in Chromium
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def screenshot(job_id: int, target: Path) -> None:
    """Serve the app on the bench's data home and photograph the Jobs tab's report panel for ``job_id``."""
    from playwright.sync_api import sync_playwright

    from tests.webui.conftest import free_port
    from webui.app import build_app, launch_app

    demo = build_app()
    port = free_port()
    launch_app(demo, port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless=new", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="4 · Jobs").click()
            page.locator("#job-report").filter(has_text="Before → after").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.locator("#job-report").first.screenshot(path=str(target))
            browser.close()
    finally:
        demo.close()
    print(f"screenshot: {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", action="store_true", help="also write docs/screenshot-report.png")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="adapta-eval-bench-"))
    os.environ["ADAPTA_HOME"] = str(home)
    os.chdir(ROOT)
    from jobs.evaluation import read_report, report_markdown
    from jobs.queue.run import train_in_foreground
    from jobs.spec import load_spec

    spec = load_spec(ROOT / "examples" / "smollm2-lora.yaml")
    job_id, summary = train_in_foreground(spec, show_progress=False)
    report = read_report(Path(summary["output_folder"]).parent)
    training, evaluation = summary["runtime_seconds"], report.seconds
    print(f"{'example':28s} {'training s':>10s} {'report s':>9s} {'report ÷ training':>18s}")
    print(f"{'smollm2-lora.yaml':28s} {training:10.1f} {evaluation:9.1f} {evaluation / training:18.3f}")
    print()
    print(report_markdown(report, examples=3))
    if args.screenshot:
        screenshot(job_id, ROOT / "docs" / "screenshot-report.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
