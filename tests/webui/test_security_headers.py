"""Security headers on every response of a real ``launch.py`` server (the page, API routes, static assets, errors), the Hugging
Face Space variant (the Hub may frame the app), and Gradio's frontend working under the Content-Security-Policy in real Chromium.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from tests.served_app import served_app
from tests.webui.conftest import CHROMIUM
from tests.webui.test_browser import choose_language

NEEDED = ["default-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval'", "style-src 'self' 'unsafe-inline'",
          "img-src 'self' data: blob:", "connect-src 'self'", "object-src 'none'", "base-uri 'self'"]


def responses(url: str) -> dict[str, httpx.Response]:
    """The page, its JavaScript bundle, two API routes, the theme stylesheet, the favicon and a 404."""
    page_response = httpx.get(url)
    script = re.search(r'src="\./(assets/index-[^"]+\.js)"', page_response.text)
    assert script, "no script bundle in the page"
    answers = {"/": page_response}
    for path in (script.group(1), "config", "gradio_api/info", "gradio_api/app_id", "theme.css", "favicon.ico", "no-such-page"):
        answers[path] = httpx.get(url + path)
    assert "javascript" in answers[script.group(1)].headers["content-type"]
    assert answers["no-such-page"].status_code == 404 and all(answers[path].status_code == 200 for path in answers if path != "no-such-page")
    return answers


def directives(response: httpx.Response) -> list[str]:
    return [part.strip() for part in response.headers["content-security-policy"].split(";")]


def test_every_response_carries_the_security_headers(adapta_home: Path) -> None:
    with served_app(["--no-worker"], home=adapta_home) as app:
        for path, response in responses(app.url).items():
            policy = directives(response)
            assert all(needed in policy for needed in NEEDED) and "frame-ancestors 'none'" in policy, (path, policy)
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin", path


def test_on_a_hugging_face_space_only_the_hub_may_frame_the_app(adapta_home: Path) -> None:
    """The Hub shows a Space in an iframe on huggingface.co (and *.hf.space): frame-ancestors names them, no X-Frame-Options."""
    with served_app(["--no-worker"], home=adapta_home, env={"SPACE_ID": "ada/adapta"}) as app:
        for path, response in responses(app.url).items():
            policy = directives(response)
            assert "frame-ancestors https://huggingface.co https://*.hf.space" in policy and all(needed in policy for needed in NEEDED), path
            assert "x-frame-options" not in response.headers, path
            assert response.headers["x-content-type-options"] == "nosniff", path


@pytest.fixture
def chromium_required() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must run the browser tests", pytrace=False)
        pytest.skip(f"Debian chromium is not installed ({CHROMIUM}); run `make install-dev`")


def test_the_page_renders_and_works_under_the_policy(chromium_required: None, page: object, app_url: str, tiny_llama: Path,  # noqa: F811
                                                     qa_jsonl: Path) -> None:
    """No CSP violation in the console while the page loads, a button runs its event, the language switch relabels the tabs
    and a loss plot (Vega, which compiles with ``new Function``) draws."""
    from jobs.metrics import MetricsSink
    from jobs.queue import submit_job
    from tests.webui.conftest import tiny_spec_yaml

    job_id = submit_job(tiny_spec_yaml(tiny_llama, qa_jsonl, steps=100_000))
    sink = MetricsSink(Path(os.environ["ADAPTA_HOME"]) / "csp-metrics.jsonl", job_id=job_id)
    for step in range(1, 6):
        sink.record(step, {"loss": 2.0 / step, "learning_rate": 0.01})

    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    response = page.goto(app_url)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.locator("#hub-notice").filter(has_text="offline").first.wait_for()
    box = page.locator("#model-ref textarea, #model-ref input").first
    box.fill(str(tiny_llama))
    page.locator("#model-check").click()
    page.locator("#model-info").filter(has_text="Adapta can adapt this model").first.wait_for()
    page.get_by_role("tab", name="4 · Jobs").click()
    try:
        page.locator("#job-loss-plot canvas, #job-loss-plot svg").first.wait_for(timeout=20_000)
    except Exception as error:
        raise AssertionError(f"the loss plot did not draw; the console said: {messages}") from error
    choose_language(page, "Português")
    page.get_by_role("tab", name="5 · Testar").wait_for()
    violations = [text for text in messages if "Content Security Policy" in text or text.startswith("pageerror")]
    assert not violations, violations
