"""Every tab in its empty state, photographed in Chromium: a fresh data home, no jobs, no uploads, nothing chosen yet.

Starts the whole app (``launch.py``, embedded worker) on a temporary data home and a free loopback port, opens each of the six
tabs by its header and saves the page as a 1400 px wide PNG:

    docs/empty-models.png  docs/empty-data.png        docs/empty-train.png
    docs/empty-jobs.png    docs/empty-playground.png  docs/empty-export.png

Before each picture it checks that nothing empty is on show: on Jobs, Playground and Export only the guide's empty state (why
the tab is empty, and a button to the step that fills it) may be visible, none of the widgets in :data:`HIDDEN_WHEN_EMPTY`
(the jobs table, the plots, the log, the action buttons, the pickers and file boxes). The Playground also tries base models
on their own: with a packaged model installed (requirements-models.txt) its picker offers that model, so its controls show
under the empty state; with nothing to pick they must be hidden too. A widget found visible fails the run, naming it.
Needs Debian's Chromium (/usr/bin/chromium, as the browser tests); no model, no training, ~1 minute.

    .venv/bin/python docs/empty_screenshots.py                   # writes docs/empty-*.png
    .venv/bin/python docs/empty_screenshots.py --out /tmp/shots  # elsewhere
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.served_app import served_app  # noqa: E402
from tests.webui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from webui.guide import STEPS  # noqa: E402

WIDTH, HEIGHT, MAX_HEIGHT = 1400, 900, 1800
EMPTY_STATES = {"data": "guide-empty-data", "jobs": "guide-empty-jobs", "playground": "guide-empty-playground", "export": "guide-empty-export"}
"""The guide's empty state each tab shows on a fresh data home."""
HIDDEN_WHEN_EMPTY = {
    "jobs": ["jobs-body", "jobs-table", "jobs-selected", "job-progress", "job-loss-plot", "job-lr-plot", "job-objective-plot", "job-log",
             "job-cancel", "job-retry", "job-duplicate", "job-up", "job-down", "job-delete", "job-cancel-group", "job-delete-group",
             "job-report", "job-samples", "compare-runs", "guide-finished"],
    "playground": ["play-base", "play-adapted", "play-base-image", "play-lora-image"],
    "export": ["export-body", "export-job", "export-zip", "export-merge", "export-file", "gguf-export", "gguf-files", "share-push"],
}
"""Per tab, the widgets that have nothing to show (or nothing to act on) before there is a job."""


def settle(page: Any) -> None:
    """Wait until no event is pending and two frames have painted (a tab's children render when it opens)."""
    page.wait_for_function("() => !document.querySelector('.pending, .generating')")
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.wait_for_timeout(600)  # the guide's select event and fonts


def visible_ids(page: Any, ids: list[str]) -> list[str]:
    """The ``ids`` of which some element is visible on the page now."""
    return [elem_id for elem_id in ids if any(element.is_visible() for element in page.locator(f"#{elem_id}").all())]


def photograph_tab(page: Any, tab: str, target: Path) -> list[str]:
    """Open ``tab``, check its empty state, save the picture; returns the problems found (empty widgets on show)."""
    page.locator(f"#tab-{tab}-button").click()
    page.locator(f"#tab-{tab}-button[aria-selected=true]").wait_for()
    if tab in EMPTY_STATES:
        page.locator(f"#{EMPTY_STATES[tab]}").first.wait_for(state="visible")
    settle(page)
    problems = [f"{tab}: #{elem_id} is visible on an empty tab" for elem_id in visible_ids(page, HIDDEN_WHEN_EMPTY.get(tab, []))]
    if tab == "playground" and visible_ids(page, ["play-body"]) and not page.locator("#play-source input").first.input_value():
        problems.append("playground: its controls are visible with nothing to pick")
    height = min(MAX_HEIGHT, page.evaluate("document.documentElement.scrollHeight"))
    page.screenshot(path=str(target), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height})
    print(f"{target.name}: {WIDTH}x{height} px, {target.stat().st_size / 1000:.0f} KB", flush=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default docs/)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="adapta-empty-screenshots-")) / "home"
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HOME": str(home.parent / "hf")}
    problems: list[str] = []
    with served_app([], home=home, env=env) as app:
        print(f"app: {app.url} (data home {home}, log {app.log})", flush=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()
            page.set_default_timeout(120_000)  # a busy machine: clicks can wait on a slow page
            try:
                page.goto(app.url)
                page.locator("#tab-models-button").wait_for()
                settle(page)
                for tab in STEPS:
                    problems += photograph_tab(page, tab, args.out / f"empty-{tab}.png")
            finally:
                browser.close()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
