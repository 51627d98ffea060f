"""One user's reward preview cannot freeze a shared server: on a real ``launch.py --auth`` server, Alice (in Chromium) previews a
GRPO json_schema term whose "pattern" backtracks catastrophically under Python's ``re`` (``^(\\w+\\s?)*$``) against the model's
long answer that ends in "!", while Bob (``gradio_client``) polls ``/job_status``: his p95 stays under 200 ms (or under twice
his idle p95 when the shared test machine is slower than that even idle). Before, ``jsonschema`` matched the pattern with
``re`` in the server's process, holding the interpreter lock for seconds per answer.

The model is a scripted tiny Llama (:mod:`tests.scripted_llama`) whose greedy answer to every prompt is the JSON string
``"aaaaaabbbbbbccccccdddddd!"``.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.scripted_llama import build_scripted_llama
from tests.served_app import served_app
from tests.webui.conftest import needs_chromium, tiny_spec_yaml
from tests.webui.test_browser import fill, open_tab, wait_text
from tests.webui.test_browser_grpo import choose
from tests.webui.test_users import PASSWORDS, add_users

pytestmark = [needs_chromium, pytest.mark.quiet_machine]  # `make test` runs it alone: a latency, not the other test process

SCRIPT = ['"aaaaaa', "bbbbbb", "cccccc", "dddddd", '!"']
HARMLESS = "- kind: json\n  weight: 1.0\n"
CATASTROPHIC = "- kind: json_schema\n  weight: 1.0\n  json_schema: '{\"type\": \"string\", \"pattern\": \"^(\\\\w+\\\\s?)*$\"}'\n"


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else max(samples)


def poll(client: Client, job_id: int, stop: threading.Event, into: list[float], errors: list[str]) -> None:
    """``/job_status`` again and again until ``stop``; each call's seconds into ``into``, a failure's sentence into ``errors``."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            status = client.predict(job_id, api_name="/job_status")["status"]
        except Exception as error:  # noqa: BLE001 - reported by the test, not lost in a thread
            errors.append(f"{type(error).__name__}: {error}")
            return
        into.append(time.perf_counter() - started)
        if status != "queued":
            errors.append(f"job {job_id} is {status}")
            return


def preview(page: object, rewards_yaml: str, term_column: str) -> None:
    """Run the preview with ``rewards_yaml`` and wait for its table (a column named ``term_column``)."""
    fill(page, "field-grpo-rewards", rewards_yaml)
    page.locator("#reward-preview").click()
    wait_text(page, "#reward-preview-table", term_column, timeout_s=300)
    wait_text(page, "#reward-preview-status", "The base model answered", timeout_s=60)


def test_a_catastrophic_reward_preview_does_not_slow_another_user(page: object, adapta_home: Path, qa_jsonl: Path, tmp_path: Path) -> None:
    add_users(adapta_home)
    model = build_scripted_llama(adapta_home / "models" / "scripted-llama", SCRIPT)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say something about planet {n}.", "answer": "x"}) + "\n" for n in range(6)))
    with served_app(["--auth", "--no-worker"], home=adapta_home) as app:
        alice = Client(app.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
        stored = alice.predict(handle_file(str(prompts)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
        bob = Client(app.url, auth=("bob", PASSWORDS["bob"]), verbose=False)
        bobs_data = bob.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
        job_id = bob.predict(tiny_spec_yaml(model, Path(bobs_data)), api_name="/submit_job")  # stays queued: no worker

        page.goto(app.url)
        page.get_by_label("username").fill("alice")
        page.get_by_label("password").fill(PASSWORDS["alice"])
        page.get_by_role("button", name="Login").click()
        wait_text(page, "#who", "Signed in as alice")
        open_tab(page, "3 · Train")
        page.locator("#train-advanced").first.get_by_text("Advanced", exact=True).first.click()
        fill(page, "train-base-model", str(model))
        choose(page, "field-objective", "grpo")
        fill(page, "train-data-file", stored)
        fill(page, "field-grpo-max-completion-length", "12")
        preview(page, HARMLESS, "json")  # loads torch and the model once, so the measurement below sees only the scoring

        idle: list[float] = []
        for _ in range(20):
            started = time.perf_counter()
            bob.predict(job_id, api_name="/job_status")
            idle.append(time.perf_counter() - started)
        during: list[float] = []
        errors: list[str] = []
        stop = threading.Event()
        poller = threading.Thread(target=poll, args=(bob, job_id, stop, during, errors), daemon=True)
        poller.start()
        try:
            started = time.perf_counter()
            preview(page, CATASTROPHIC, "json_schema")
            took = time.perf_counter() - started
        finally:
            stop.set()
            poller.join(timeout=120)
        table = page.locator("#reward-preview-table").first.inner_text()
        assert "aaaaaabbbbbbccccccdddddd!" in table and "json_schema" in table
    assert not errors, f"Bob's /job_status failed during Alice's preview: {errors}"
    limit = max(0.2, 2 * p95(idle))
    print(f"/job_status p95: idle {p95(idle) * 1000:.0f} ms, during the preview {p95(during) * 1000:.0f} ms ({len(during)} calls, "
          f"preview {took:.1f} s)")
    assert len(during) >= 3, f"only {len(during)} /job_status calls during a {took:.1f} s preview"
    assert p95(during) <= limit, (f"Bob's /job_status p95 {p95(during) * 1000:.0f} ms during Alice's preview ({took:.1f} s, {len(during)} "
                                  f"calls) vs {p95(idle) * 1000:.0f} ms idle; limit {limit * 1000:.0f} ms")
