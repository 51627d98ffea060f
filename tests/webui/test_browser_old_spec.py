"""A spec written before the ``images:`` section, loaded into the Train form in real Chromium: a warning names the new
place of each moved setting, and the form shows the values there.

Screenshot: tests/webui/artifacts/old-spec-warning.png (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import open_tab, shot

pytestmark = needs_chromium

OLD_LAYOUT = """task: text-to-image
base_model: stable-diffusion-v1-5/stable-diffusion-v1-5
method: lora
data: {train: photos.zip, trigger_word: zqx}
training: {max_steps: 10, resolution: 256, random_flip: true}
lora: {r: 4, train_text_encoder: true}
"""


def test_an_old_layout_yaml_loads_into_the_form_with_a_warning_naming_the_new_places(page: object, app_url: str,
                                                                                     tmp_path: Path) -> None:
    spec_file = tmp_path / "old-layout.yaml"
    spec_file.write_text(OLD_LAYOUT, encoding="utf-8")
    page.goto(app_url)
    open_tab(page, "3 · Train")
    page.get_by_text("The job as YAML", exact=True).first.click()
    page.locator("input[type=file][accept*='.yaml']").first.set_input_files(str(spec_file))

    toast = page.locator(".toast-body").filter(has_text="training.resolution is now images.resolution").first
    toast.wait_for(timeout=60_000)
    text = toast.inner_text()
    assert "data.trigger_word is now images.trigger_word" in text and "lora.train_text_encoder is now images.train_text_encoder" in text
    shot(page, "old-spec-warning")

    page.locator("#train-advanced").first.get_by_text("Advanced", exact=True).first.click()  # the image settings live there
    resolution = page.locator("#field-images-resolution input[type=number]").first
    resolution.wait_for(state="visible")
    assert resolution.input_value() == "256"
    assert page.locator("#field-images-trigger-word input, #field-images-trigger-word textarea").first.input_value() == "zqx"
    page.get_by_role("button", name="Show YAML", exact=True).first.click()  # the form writes the new layout back
    page.locator("#train-yaml").filter(has_text="images:").first.wait_for(timeout=60_000)
    written = page.locator("#train-yaml").first.inner_text()
    assert "resolution: 256" in written and "train_text_encoder: true" in written and "trigger_word: zqx" in written
