"""The newcomer path in real Chromium (Debian's /usr/bin/chromium driven by Playwright), with a real worker.

Screenshots of each step go to tests/webui/artifacts/ (git-ignored). Skipped, with the reason, only when
/usr/bin/chromium is missing (``make test`` installs it).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.webui.conftest import ARTIFACTS, needs_chromium

pytestmark = needs_chromium


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_tab(page: object, label: str) -> None:
    page.get_by_role("tab", name=label).click()


def fill(page: object, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def wait_text(page: object, selector: str, text: str, timeout_s: float = 120) -> None:
    page.locator(selector).filter(has_text=text).first.wait_for(timeout=timeout_s * 1000)


def choose_option(page: object, elem_id: str, option: str) -> None:
    """Pick ``option`` in the dropdown ``elem_id`` and wait until its box shows it: the Jobs timer may refresh the list while it
    is open (more so on a busy machine) and swallow the click, so it is tried again."""
    box = page.locator(f"#{elem_id} input").first
    for _ in range(3):
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            page.wait_for_function("([selector, value]) => document.querySelector(selector)?.value === value",
                                   arg=[f"#{elem_id} input", option], timeout=3_000)
            return
        except Exception:  # noqa: BLE001 - the list was re-rendered under the click; open it again
            page.keyboard.press("Escape")
    assert box.input_value() == option, f"#{elem_id} shows {box.input_value()!r}, not {option!r}"


def choose_language(page: object, name: str) -> None:
    """Pick the page language and wait until the radio shows it chosen (an open dropdown list may swallow the first click)."""
    page.keyboard.press("Escape")
    choice = page.locator("#language label").filter(has_text=name)
    for _ in range(3):
        choice.click()
        try:
            choice.locator("input").wait_for(state="attached", timeout=2_000)
            if choice.locator("input").is_checked():
                return
        except Exception:  # noqa: BLE001 - the click went to a closing popup; click again
            pass
    assert choice.locator("input").is_checked(), f"the language radio did not switch to {name}"


def test_newcomer_path_from_model_to_playground(page: object, app_url: str, worker: object, tiny_llama: Path, qa_jsonl: Path) -> None:
    page.goto(app_url)
    wait_text(page, "#hub-notice", "offline")
    shot(page, "01-models-offline")
    fill(page, "model-ref", str(tiny_llama))
    page.locator("#model-check").click()
    wait_text(page, "#model-info", "Adapta can adapt this model")
    page.locator("#model-use").click()
    page.get_by_role("tab", name="2 · Data", selected=True).wait_for()
    page.locator("#data-upload input[type=file]").set_input_files(str(qa_jsonl))
    wait_text(page, "#data-status", "is ready")
    wait_text(page, "#data-preview", "Planet Zor is teal.")
    shot(page, "02-data-preview")
    page.locator("#data-use").click()
    page.get_by_role("tab", name="3 · Train", selected=True).wait_for()
    wait_text(page, "#train-why-epochs", "6 rows")  # the recommendations for this data are in; the settings below are the user's
    page.locator("#train-advanced").first.get_by_text("Advanced", exact=True).first.click()  # steps, batch, rate and LoRA live there
    method = page.locator("#field-method input").first
    method.click()
    page.get_by_role("option", name="lora", exact=True).click()
    fill(page, "field-training-max-steps", "12")
    fill(page, "field-training-batch-size", "2")
    fill(page, "field-training-learning-rate", "0.02")
    page.locator("#field-lora-target-modules input").first.fill("all-linear")
    shot(page, "03-train-form")
    page.locator("#train-submit").click()
    page.get_by_role("tab", name="4 · Jobs", selected=True).wait_for()
    wait_text(page, "#job-detail", "succeeded", timeout_s=150)
    page.locator("#job-loss-plot canvas, #job-loss-plot svg").first.wait_for()
    time.sleep(1.0)
    shot(page, "04-job-succeeded")
    page.locator("#job-detail").screenshot(path=str(ARTIFACTS / "04b-job-detail.png"))
    open_tab(page, "5 · Playground")
    fill(page, "play-prompt", "What colour is planet Zor?")
    page.locator("#play-run").click()
    wait_text(page, "#play-status", "Done", timeout_s=90)
    base = page.locator("#play-base textarea").input_value()
    adapted = page.locator("#play-adapted textarea").input_value()
    shot(page, "05-playground")
    assert base and adapted and base != adapted
    choose_language(page, "Português")
    page.get_by_role("tab", name="5 · Testar").wait_for()
    shot(page, "06-portuguese")


def test_reload_mid_job_keeps_progress_and_history(page: object, app_url: str, worker: object, tiny_llama: Path, qa_jsonl: Path) -> None:
    from jobs.metrics import metric_series
    from jobs.queue import get_job, request_cancel, submit_job
    from tests.webui.conftest import tiny_spec_yaml

    job_id = submit_job(tiny_spec_yaml(tiny_llama, qa_jsonl, steps=100_000))
    deadline = time.monotonic() + 120
    while len(metric_series(job_id, "loss")) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    page.goto(app_url)
    open_tab(page, "4 · Jobs")
    wait_text(page, "#job-detail", "running")
    page.locator("#job-loss-plot canvas, #job-loss-plot svg").first.wait_for()
    shot(page, "07-before-reload")
    page.reload()
    open_tab(page, "4 · Jobs")
    wait_text(page, "#job-detail", f"#{job_id}")
    wait_text(page, "#job-detail", "running")
    page.locator("#job-loss-plot canvas, #job-loss-plot svg").first.wait_for()
    assert "step" in page.locator("#job-detail").inner_text()
    shot(page, "08-after-reload")
    request_cancel(job_id)
    deadline = time.monotonic() + 60
    while get_job(job_id).status.value == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert get_job(job_id).status.value == "cancelled"


def test_signed_in_users_see_only_their_own_jobs_in_the_browser(page: object, adapta_home: Path, tiny_llama: Path, qa_jsonl: Path) -> None:
    """`launch.py --auth` in a real process: Gradio's sign-in page, then each user's Jobs tab holds their job only."""
    from gradio_client import Client, handle_file

    from storage.users import add_user
    from tests.served_app import served_app
    from tests.webui.conftest import tiny_spec_yaml
    from tests.webui.test_users import offered_model

    tiny_llama = offered_model(adapta_home, tiny_llama)

    passwords = {"alice": "alice-password-1", "bob": "bob-password-2"}
    for name, password in passwords.items():
        add_user(name, password)  # what `launch.py adduser` does (its own test is tests/webui/test_users.py), without a process each
    with served_app(["--auth", "--no-worker"], home=adapta_home) as app:
        for name in passwords:
            client = Client(app.url, auth=(name, passwords[name]), verbose=False)
            stored = client.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
            client.predict(tiny_spec_yaml(tiny_llama, Path(stored)).replace("task:", f"name: {name}-planets\ntask:"), api_name="/submit_job")
        for name in passwords:
            page.context.clear_cookies()
            page.goto(app.url)
            page.get_by_label("username").fill(name)
            page.get_by_label("password").fill(passwords[name])
            page.get_by_role("button", name="Login").click()
            wait_text(page, "#who", f"Signed in as {name}")
            open_tab(page, "4 · Jobs")
            wait_text(page, "#jobs-table", f"{name}-planets")
            other = "bob" if name == "alice" else "alice"
            assert page.locator("#jobs-table").filter(has_text=f"{other}-planets").count() == 0
            shot(page, f"10-signed-in-{name}")


def test_demo_visitors_see_why_the_write_controls_are_off(page: object, adapta_home: Path) -> None:
    from tests.served_app import served_app

    with served_app(["--demo"], home=adapta_home) as app:
        page.goto(app.url)
        wait_text(page, "#who", "Demo server")
        open_tab(page, "3 · Train")
        page.locator("#train-submit:disabled").wait_for()
        open_tab(page, "1 · Model")
        fill(page, "model-ref", "acme/tiny-chat")
        page.locator("#model-download:disabled").wait_for()
        shot(page, "11-demo")


def test_a_hub_dataset_is_previewed_and_handed_to_the_train_form(page: object, adapta_home: Path, tmp_path: Path) -> None:
    """The Data tab streams the first rows of a Hub dataset (the loopback fake Hub) into the usual report; "use" fills the form."""
    from tests.fake_hub import FakeHub
    from tests.jobs.data.test_hub_datasets import DATASETS
    from tests.served_app import served_app

    env = {"HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf")}
    with FakeHub(datasets=DATASETS) as hub, served_app(["--no-worker"], home=adapta_home, env={**env, "HF_ENDPOINT": hub.url}) as app:
        page.goto(app.url)
        open_tab(page, "2 · Data")
        fill(page, "data-hub", "acme/reviews")
        fill(page, "data-hub-config", "long")
        page.locator("#data-hub-load").click()
        wait_text(page, "#data-status", "hub:acme/reviews is ready")
        wait_text(page, "#data-status", "streamed from the Hub")
        wait_text(page, "#data-preview", "broke after a day")
        wait_text(page, "#data-stats", "8")
        shot(page, "12-hub-dataset")
        page.locator("#data-use").click()
        page.get_by_role("tab", name="3 · Train", selected=True).wait_for()
        page.locator("#train-advanced").first.get_by_text("Advanced", exact=True).first.click()  # the data fields live there
        assert page.locator("#train-data-file textarea, #train-data-file input").first.input_value() == "hub:acme/reviews"
        assert page.locator("#field-data-config textarea, #field-data-config input").first.input_value() == "long"
