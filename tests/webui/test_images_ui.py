"""The text-to-image parts of the web UI: a tiny SD job's samples in the Jobs tab, ``/generate_image`` through
gradio_client, the image mode of the Playground, a .zip of images through ``/inspect_dataset`` and the Data tab,
and the Train form for task text-to-image (lora only, image settings shown, text-only settings hidden)."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.jobs.images.conftest import one_torch_thread, write_images  # noqa: F401 - one_torch_thread: an autouse fixture, used here too

PROMPT = "a photo of sks dog"


@pytest.fixture
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def decode(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB"), dtype=np.int16)


def image_zip(tmp_path: Path) -> Path:
    """Four captioned images, one corrupt image and one stray file, zipped inside a folder."""
    folder = write_images(tmp_path / "photos" / "set")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    (folder / "notes.docx").write_bytes(b"stray")
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.iterdir()):
            handle.write(path, f"set/{path.name}")
    return archive


def test_image_job_samples_playground_and_generate_image(client: Client, tiny_sd: Path, tmp_path: Path) -> None:
    from jobs.queue.run import train_in_foreground
    from jobs.spec import parse_spec
    from webui.access import LOCAL_CALLER
    from webui.api_playground import image_placement_reason
    from webui.jobs_tab import sample_gallery
    from webui.playground_tab import is_image_source, mode_updates

    spec = parse_spec({
        "name": "tiny-sd-ui", "task": "text-to-image", "base_model": str(tiny_sd), "method": "lora",
        "data": {"train": str(write_images(tmp_path / "images"))},
        "training": {"max_steps": 4, "learning_rate": 5e-3, "batch_size": 2, "seed": 3, "scheduler": "constant", "warmup_ratio": 0.0},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "images": {"trigger_word": "sks", "resolution": 64},
        "samples": {"prompts": [PROMPT], "every_steps": 2, "seed": 7, "num_inference_steps": 2},
    })
    job_id, _ = train_in_foreground(spec, show_progress=False)

    status = client.predict(job_id, api_name="/job_status")
    assert status["status"] == "succeeded" and status["progress"] == 1.0 and status["loss"] is not None

    # Jobs tab: the gallery of samples, captioned "step N: prompt", rebuilt only when the count changes
    gallery, shown = sample_gallery(str(job_id), "", None)
    assert gallery["visible"] is True and [caption for _, caption in gallery["value"]] == [f"step 2: {PROMPT}", f"step 4: {PROMPT}"]
    assert sample_gallery(str(job_id), shown, None) == [gr.update(), shown]
    assert sample_gallery(None, shown, None)[0]["visible"] is False

    # Playground: an image job switches to image mode
    assert is_image_source(str(job_id), LOCAL_CALLER) and not is_image_source("424242", LOCAL_CALLER) and not is_image_source("some/model", LOCAL_CALLER)
    assert [update["visible"] for update in mode_updates(str(job_id), None)] == [False, False, True, True]

    result = client.predict(job_id, PROMPT, 1, 1.0, 2, api_name="/generate_image")
    assert result["format"] == "png" and result["steps"] == 2
    base, lora = decode(result["base"]), decode(result["lora"])
    assert base.shape == lora.shape == (64, 64, 3)
    assert np.abs(base - lora).mean() > 0.5, "the LoRA must change the image"
    same = client.predict(job_id, PROMPT, 1, 0.0, 2, api_name="/generate_image")
    assert np.array_equal(decode(same["base"]), decode(same["lora"])) and np.array_equal(decode(same["base"]), base)
    assert "GPU" in image_placement_reason(str(job_id), LOCAL_CALLER)  # the status line: where the pipeline runs and why

    with pytest.raises(AppError, match="write a prompt"):
        client.predict(job_id, "  ", 1, 1.0, 2, api_name="/generate_image")
    with pytest.raises(AppError, match="there is no job 424242"):
        client.predict(424242, PROMPT, api_name="/generate_image")
    assert client.predict(job_id, api_name="/job_status")["status"] == "succeeded"


def test_image_zip_through_inspect_dataset_and_the_data_tab(client: Client, tmp_path: Path) -> None:
    from webui.data_tab import show_image_report

    archive = image_zip(tmp_path)
    report = client.predict(handle_file(str(archive)), "auto", "text-to-image", api_name="/inspect_dataset")
    assert report["format"] == "images" and report["images"] == 4 and report["caption_source"] == "txt"
    assert {item["caption"] for item in report["items"]} >= {"a red square picture", "a blue square picture"}
    assert report["unreadable"] == ["broken.png"] and report["stray_files"] == ["notes.docx"]
    assert any("broken.png" in sentence for sentence in report["problems"])
    stored = Path(report["stored_path"])
    assert stored.is_file() and "uploads" in stored.parts

    with pytest.raises(AppError, match="choose task text-to-image"):
        client.predict(handle_file(str(archive)), "auto", "causal-lm", api_name="/inspect_dataset")

    outputs = show_image_report(str(stored), "en")
    status, problems, gallery = outputs[0], outputs[6], outputs[-1]
    assert status.startswith("⚠️") and "broken.png" in " ".join(problems["message"])
    assert gallery["visible"] is True and len(gallery["value"]) == 4
    assert all(caption.endswith("square picture") for _, caption in gallery["value"])


def test_train_form_for_text_to_image_offers_lora_and_the_image_settings() -> None:
    from webui import train_tab
    from webui.i18n import Registry

    with gr.Blocks():
        tab = train_tab.build(Registry())
    paths = [field.path for field in tab.fields]
    assert tab.widget("images.resolution").visible is False and tab.widget("training.max_length").visible is True

    updates = dict(zip(paths, train_tab.task_updates(tab, "text-to-image", "qlora"), strict=True))
    assert updates["method"]["choices"] == ["lora"] and updates["method"]["value"] == "lora"
    image_only = [path for path in paths if path.startswith(("images.", "samples."))]
    assert {"images.resolution", "images.snr_gamma", "images.trigger_word", "images.train_text_encoder", "samples.prompts"} <= set(image_only)
    for path in image_only:
        assert updates[path]["visible"] is True, path
    assert updates["training.max_grad_norm"]["visible"] is True  # every trainer clips gradients
    for path in ("training.max_length", "training.packing", "data.format"):
        assert updates[path]["visible"] is False, path
    assert updates["data.validation"]["visible"] is True  # a folder or .zip of held-out images for the before/after report
    assert updates["data.format"]["value"] == "auto"
    back = dict(zip(paths, train_tab.task_updates(tab, "causal-lm", "lora"), strict=True))
    assert "qlora" in back["method"]["choices"] and back["training.max_grad_norm"]["visible"] is True
    assert not [path for path in image_only if back[path]["visible"]], "image settings are hidden for text tasks"

    # sample prompts are one per line (a prompt keeps its spaces), and the form round-trips an image spec
    from jobs.spec import parse_spec
    from webui.spec_form import spec_to_values, values_to_spec

    spec = parse_spec({"task": "text-to-image", "base_model": "m", "data": {"train": "photos.zip"},
                       "images": {"trigger_word": "sks", "resolution": 64}, "samples": {"prompts": [PROMPT, "a sks dog in snow"], "every_steps": 2}})
    values = spec_to_values(tab.fields, spec)
    assert values[paths.index("samples.prompts")] == f"{PROMPT}\na sks dog in snow"
    assert parse_spec(values_to_spec(tab.fields, values, base_model="m", train="photos.zip", columns={})) == spec


def test_preflight_of_an_image_job_checks_the_pipeline_instead_of_transformers(tiny_sd: Path) -> None:
    from jobs.spec import parse_spec
    from webui.train_tab import preflight_report

    fits, report = preflight_report(parse_spec({"task": "text-to-image", "base_model": str(tiny_sd), "data": {"train": "photos.zip"},
                                                "training": {"max_steps": 4}}), "en")
    assert fits and "Stable Diffusion pipeline (SD)" in report and "4" in report
    fits, report = preflight_report(parse_spec({"task": "text-to-image", "base_model": "/nowhere/sd", "data": {"train": "p.zip"}}), "en")
    assert not fits and "does not exist" in report
