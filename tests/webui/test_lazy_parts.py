"""Parts of the page built when they are first opened (``gr.render``), not with the page: the page's config leaves them out,
and once opened they work, follow the language switch and keep what the person typed or picked.

    .venv/bin/python -m pytest -q tests/webui/test_lazy_parts.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.finished_jobs import train_counting_job
from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import choose_language, fill, wait_text
from webui.i18n import t

LAZY_IDS = {"export": ("export-body", "export-job", "export-zip", "export-merge", "gguf-export", "share-repo", "share-push"),
            "playground": ("play-body", "play-source", "play-prompt", "play-run", "play-adapted", "play-run-image", "search-run")}


@pytest.mark.parametrize("tab_name", sorted(LAZY_IDS))
def test_the_page_config_leaves_the_body_out_and_builds_it_when_the_tab_opens(tab_name: str) -> None:
    from webui.app import build_app

    config = build_app().get_config_file()
    elem_ids = {component["props"].get("elem_id") for component in config["components"]}
    assert not elem_ids & set(LAZY_IDS[tab_name])
    tab = next(component["id"] for component in config["components"] if component["props"].get("elem_id") == f"tab-{tab_name}")
    offered = [output for dep in config["dependencies"] if [tab, "select"] in [list(target) for target in dep["targets"]]
               for output in dep["outputs"]]  # opening the tab asks whether there is something to offer ...
    renders = [dep for dep in config["dependencies"] if dep.get("render_id") is not None
               and any(list(target) == [state, "change"] for target in dep["targets"] for state in offered)]
    assert len(renders) == 1  # ... and that answer builds the body
    api = {"export_gguf", "push_to_hub", "generate", "generate_image", "job_report"}  # the HTTP API stays registered at startup
    assert api <= {dep.get("api_name") for dep in config["dependencies"]}


def test_a_body_is_built_only_when_there_is_something_to_offer(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    from webui import export_tab, playground_tab

    # a fresh data home has no finished job; the Playground would still offer the packaged base models of this machine
    monkeypatch.setattr(playground_tab, "source_choices", lambda request, selected=None: gr.update(choices=[], value=None))
    for module in (export_tab, playground_tab):
        with gr.Blocks() as demo:
            lang = gr.State("en")
            with gr.Tabs(), gr.Tab("tab") as tab:
                module.build(lang, tab)
        before = set(demo.blocks)
        with demo:
            render = demo.renderables[-1]
            render.fn(True, *[state.value for state in render.inputs[1:]], None)  # the tab opened; no request (open mode)
        assert set(demo.blocks) == before, module.__name__


@pytest.fixture
def finished_job(tiny_llama: Path, tmp_path: Path) -> int:
    return train_counting_job(tiny_llama, tmp_path, "lazy-export", max_steps=1)[0]


@needs_chromium
def test_the_bodies_work_once_opened_and_keep_their_values_across_a_language_switch(app_url: str, page: Any, finished_job: int) -> None:
    page.goto(app_url)
    page.locator("#tab-models-button").wait_for()
    assert page.locator("#export-zip").count() == page.locator("#play-run").count() == 0  # not built with the page
    page.locator("#tab-playground-button").click()
    page.locator("#play-run").wait_for(state="visible")
    assert page.locator("#play-source input").first.input_value().startswith(f"#{finished_job} ·")
    controls = ["#play-source input", "#play-prompt textarea", "#play-body input[type=range]"]
    assert all(page.locator(control).first.is_enabled() for control in controls)  # interactive, though built after the page
    fill(page, "play-prompt", "What is 2 plus one?")
    page.locator("#play-run").click()
    page.locator("#play-adapted").wait_for(state="visible", timeout=60_000)
    answer = page.locator("#play-adapted textarea").input_value()
    page.locator("#tab-export-button").click()
    page.locator("#export-zip").wait_for(state="visible")
    assert page.locator("#export-job input").first.input_value().startswith(f"#{finished_job} ·")
    controls = ["#export-job input", "#gguf-types input", "#share-private input", "#share-repo input, #share-repo textarea"]
    assert all(page.locator(control).first.is_enabled() for control in controls)
    fill(page, "share-repo", "someone/lazy-export")
    choose_language(page, "Português (Brasil)")
    wait_text(page, "#export-zip", t("pt-BR", "export.zip"), timeout_s=30)  # both bodies rebuilt in the new language ...
    page.locator("#tab-playground-button").click()
    wait_text(page, "#play-run", t("pt-BR", "play.run"), timeout_s=30)
    assert page.locator("#play-prompt textarea").input_value() == "What is 2 plus one?"  # ... with what was typed and answered
    assert page.locator("#play-adapted textarea").input_value() == answer
    page.locator("#tab-export-button").click()
    assert page.locator("#share-repo textarea, #share-repo input").first.input_value() == "someone/lazy-export"  # ... with what was typed
    assert page.locator("#export-job input").first.input_value().startswith(f"#{finished_job} ·")
    page.locator("#export-zip").click()  # the rebuilt body's events are wired
    wait_text(page, "#export-status", t("pt-BR", "export.zipped", id=finished_job), timeout_s=60)
    page.locator("#export-file").wait_for(state="visible")
