"""The model card (``README.md``) written next to every adapter or model: Hub metadata, data, settings, results, usage."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from jobs.evaluation.report import EvalReport, report_markdown
from jobs.export.hub_client import valid_repo_id
from jobs.models.catalog import hub_id_for_packaged
from jobs.spec import HUB_DATA_PREFIX, JobSpec, Method, Objective, Task

PIPELINE_TAG = {Task.CAUSAL_LM: "text-generation", Task.TEXT_CLASSIFICATION: "text-classification", Task.SENTENCE_EMBEDDING: "sentence-similarity"}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def hub_base_model(ref: str) -> str | None:
    """The ``base_model`` a Hub card can carry: the Hub id itself, the id a packaged copy came from, else None (a local path
    is not a model id, and the Hub's metadata check rejects it)."""
    if not Path(ref).expanduser().exists():
        return ref if valid_repo_id(ref) else None
    return hub_id_for_packaged(ref)


def base_model_text(spec: JobSpec) -> str:
    """The base model as the card names it: ``org/name`` plus the exact commit it was trained from when known."""
    if spec.base_model_revision:
        return f"`{spec.base_model}` (commit `{spec.base_model_revision}`)"
    return f"`{spec.base_model}`"


def _embedding_usage_snippet(spec: JobSpec, folder_name: str, is_peft: bool) -> str:
    load = (f"model = SentenceTransformer(\"{hub_base_model(spec.base_model) or spec.base_model}\")\n"
            f"model.load_adapter(\"{folder_name}\")  # the LoRA adapter (needs peft)\n") if is_peft else f"model = SentenceTransformer(\"{folder_name}\")\n"
    return ("from sentence_transformers import SentenceTransformer\n\n" + load +
            "query = model.encode([\"your query\"])\npassages = model.encode([\"first passage\", \"second passage\"])\n"
            "print(model.similarity(query, passages))  # higher: more relevant\n")


def _usage_snippet(spec: JobSpec, folder_name: str, merged: bool = False) -> str:
    if spec.task is Task.SENTENCE_EMBEDDING:
        return _embedding_usage_snippet(spec, folder_name, spec.method is not Method.FULL and not merged)
    if spec.method is Method.FULL or merged:
        cls = "AutoModelForCausalLM" if spec.task is Task.CAUSAL_LM else "AutoModelForSequenceClassification"
        return (
            f"from transformers import AutoTokenizer, {cls}\n\n"
            f"model = {cls}.from_pretrained(\"{folder_name}\")\n"
            f"tokenizer = AutoTokenizer.from_pretrained(\"{folder_name}\")\n"
        )
    cls = "AutoPeftModelForCausalLM" if spec.task is Task.CAUSAL_LM else "AutoPeftModelForSequenceClassification"
    return (
        f"from peft import {cls}\nfrom transformers import AutoTokenizer\n\n"
        f"model = {cls}.from_pretrained(\"{folder_name}\")  # loads {spec.base_model} + this adapter\n"
        f"tokenizer = AutoTokenizer.from_pretrained(\"{folder_name}\")\n"
    )


def _metrics_table(summary: dict[str, Any]) -> str:
    rows = [("final training loss", summary.get("last_loss")), ("first training loss", summary.get("first_loss"))]
    rows += [(name, value) for name, value in sorted((summary.get("eval_metrics") or {}).items()) if not name.endswith(("runtime", "per_second"))]
    lines = ["| metric | value |", "|---|---|"]
    for name, value in rows:
        if value is not None:
            lines.append(f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |")
    return "\n".join(lines)


IMAGE_PIPELINE_CLASSES = {"sd": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline", "flux": "FluxPipeline",
                          "sd3": "StableDiffusion3Pipeline"}
IMAGE_FAMILY_TAGS = {"sd": "stable-diffusion", "sdxl": "stable-diffusion-xl", "flux": "flux", "sd3": "sd3"}


KOHYA_WHERE = {"flux": "ComfyUI and Forge (kohya FLUX layout, BFL names; diffusers reads it too)",
               "sd3": "ComfyUI and Forge (kohya SD 3 layout, `lora_unet_joint_blocks_*`, with the trained alpha: ComfyUI applies the "
                      "diffusers file at scale 1 instead of alpha/r)"}


def _kohya_line(summary: dict[str, Any]) -> str:
    """The Files line of the kohya-layout file (FLUX: BFL ``lora_unet_double_blocks_*`` keys; SD 3.x: ``lora_unet_joint_blocks_*``),
    or nothing when the run wrote none (a LoRA outside the transformer blocks)."""
    kohya = summary.get("kohya_file", "pytorch_lora_weights_kohya.safetensors")
    if not kohya:
        return ""
    where = KOHYA_WHERE.get(summary.get("pipeline_family") or "sd", "AUTOMATIC1111, ComfyUI and Forge")
    return f"- `{kohya}`: kohya format for {where} (in ComfyUI: `models/loras/`, a LoraLoader node)\n"


def _image_usage_snippet(spec: JobSpec, summary: dict[str, Any], folder_name: str) -> str:
    cls = IMAGE_PIPELINE_CLASSES.get(summary.get("pipeline_family") or "sd", "StableDiffusionPipeline")
    prompt = spec.samples.prompts[0] if spec.samples.prompts else f"a photo of {spec.images.trigger_word or 'your subject'}"
    return (
        f"import torch\nfrom diffusers import {cls}\n\n"
        f"pipe = {cls}.from_pretrained(\"{spec.base_model}\")\n"
        f"pipe.load_lora_weights(\"{folder_name}\")  # pytorch_lora_weights.safetensors\n"
        f"image = pipe({prompt!r}, generator=torch.Generator().manual_seed(0)).images[0]\n"
    )


def _image_grid_section(report: EvalReport | None) -> str:
    """The report's base-vs-adapted image grid (``runs/<job>/eval/``, next to ``adapter/``) as a Markdown table, or nothing."""
    grid = (report.extra.get("grid") or []) if report is not None and not report.skipped else []
    if not grid:
        return ""
    settings = report.extra.get("grid_settings") or {}
    rows = "\n".join(f"| {row['prompt'].replace('|', '/')} | ![base](../{row['base']}) | ![adapted](../{row['adapted']}) |" for row in grid)
    return (f"### Base vs adapted images (seed {settings.get('seed')}, {settings.get('num_inference_steps')} steps)\n\n"
            f"| prompt | base | adapted |\n|---|---|---|\n{rows}\n\n")


def render_image_model_card(spec: JobSpec, summary: dict[str, Any], folder_name: str, report: EvalReport | None = None) -> str:
    """The README.md of a text-to-image LoRA: trigger word, sample images, both file formats, diffusers usage."""
    front = {"base_model": spec.base_model, "library_name": "diffusers", "pipeline_tag": "text-to-image",
             "tags": ["adapta", "lora", "text-to-image", IMAGE_FAMILY_TAGS.get(summary.get("pipeline_family") or "sd", "stable-diffusion")]}
    if spec.images.trigger_word:
        front["instance_prompt"] = spec.images.trigger_word
    samples = summary.get("samples") or []
    last_samples = [name for name in samples if name.startswith(samples[-1].rsplit("-", 1)[0])] if samples else []
    gallery = "\n".join(f"![sample {number}](../samples/{name})" for number, name in enumerate(last_samples)) or "No sample prompts were set."
    hyper = {**spec.training.model_dump(mode="json"), **spec.images.model_dump(mode="json"),
             **{f"lora_{k}": v for k, v in spec.lora.model_dump(mode="json").items()}}
    hyper_lines = "\n".join(f"| {key} | {value} |" for key, value in hyper.items())
    trigger = f"Put the trigger word **`{spec.images.trigger_word}`** in your prompt.\n\n" if spec.images.trigger_word else ""
    skipped = summary.get("skipped_images") or {}
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n"
        f"# {spec.display_name}\n\n"
        f"A LoRA for {base_model_text(spec)} (text-to-image, {summary.get('pipeline_family', 'sd')}), trained with Adapta.\n\n{trigger}"
        f"## Files\n\n- `pytorch_lora_weights.safetensors`: diffusers format (`pipe.load_lora_weights`)\n"
        f"{_kohya_line(summary)}\n"
        f"## Samples (prompts: {', '.join(spec.samples.prompts) or 'none'}; seed {spec.samples.seed})\n\n{gallery}\n\n"
        f"## Training data\n\n- images: `{spec.data.train}` ({summary.get('train_examples')} used, {len(skipped)} unreadable skipped"
        f"{': ' + ', '.join(sorted(skipped)) if skipped else ''}; {summary.get('eval_examples') or 0} held out for the report)\n"
        f"- captions: {summary.get('data', {}).get('columns', {}).get('caption_source', 'auto')}\n"
        f"{_data_check_item(summary)}\n"
        f"{results_section(summary, report)}{_image_grid_section(report)}"
        f"## Hyperparameters\n\n| setting | value |\n|---|---|\n{hyper_lines}\n\n"
        f"## Usage\n\n```python\n{_image_usage_snippet(spec, summary, folder_name)}```\n\n"
        f"## Framework versions\n\npython {platform.python_version()}, torch {_version('torch')}, diffusers {_version('diffusers')}, "
        f"peft {_version('peft')}\n"
    )


def base_model_license(base_model_path: str | None) -> str | None:
    """The ``license`` in the base model's own card front matter, carried over to the adapter's card."""
    if not base_model_path:
        return None
    card = Path(base_model_path) / "README.md"
    try:
        text = card.read_text(encoding="utf-8")
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    try:
        front = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError:
        return None
    license_name = front.get("license") if isinstance(front, dict) else None
    return str(license_name) if license_name else None


def _data_source(spec: JobSpec) -> str:
    if not spec.data.from_hub:
        return f"- file: `{spec.data.train}`"
    dataset_id = spec.data.train.removeprefix(HUB_DATA_PREFIX)
    config = f", config `{spec.data.config}`" if spec.data.config else ""
    return f"- dataset: [{dataset_id}](https://huggingface.co/datasets/{dataset_id}){config}, split `{spec.data.split}`"


def _data_check_item(summary: dict[str, Any]) -> str:
    """The data check before training, as a list item of Training data ("trained on 1,204 rows; before training 37 duplicates
    were removed ..."), or nothing for a run from before the check."""
    line = summary.get("data_check") or ""  # English: Hub model cards are English by convention (the web UI words it per language)
    return f"- data check: {line}\n" if line else ""


def _what_it_is(spec: JobSpec, is_peft: bool, merged: bool) -> str:
    if is_peft:
        return f"A {spec.method.value} adapter for"
    return f"A {spec.method.value} adapter merged into" if merged else "A fully fine-tuned version of"


def results_section(summary: dict[str, Any], report: EvalReport | None) -> str:
    """The card's Results: the before/after report on held-out rows (when there is one), then the training numbers."""
    training = (f"{_metrics_table(summary)}\n\n"
                f"Steps: {summary.get('global_step')}, runtime: {summary.get('runtime_seconds', 0):.1f} s, "
                f"trainable parameters: {summary.get('trainable_params'):,} of {summary.get('total_params'):,}.")
    if report is None:
        return f"## Results\n\n{training}\n\n"
    return f"## Results\n\n### Before and after adaptation\n\n{report_markdown(report)}\n### Training\n\n{training}\n\n"


OBJECTIVE_TEXT = {
    Objective.DPO: "direct preference optimisation (DPO)",
    Objective.ORPO: "odds-ratio preference optimisation (ORPO)",
    Objective.KTO: "Kahneman-Tversky optimisation (KTO)",
    Objective.GRPO: "group relative policy optimisation (GRPO) with rewards",
}


def _objective_text(spec: JobSpec) -> str:
    """`` by DPO`` and the like for the objectives beyond sft (TRL's trainers), else nothing."""
    return f" by {OBJECTIVE_TEXT[spec.objective]}, with TRL" if spec.objective in OBJECTIVE_TEXT else ""


def render_model_card(spec: JobSpec, summary: dict[str, Any], folder_name: str, merged: bool = False,
                      report: EvalReport | None = None) -> str:
    """The README.md text: YAML front matter for the Hub, then what was trained, how, how well, and how to use it.

    ``merged``: the card of the LoRA merged into its base (a plain transformers model, no PEFT needed).
    ``report``: the job's before/after evaluation (:mod:`jobs.evaluation`), shown under Results."""
    if spec.task is Task.TEXT_TO_IMAGE:
        return render_image_model_card(spec, summary, folder_name, report)
    is_peft = spec.method is not Method.FULL and not merged
    front = {
        "base_model": hub_base_model(spec.base_model),
        "library_name": "sentence-transformers" if spec.task is Task.SENTENCE_EMBEDDING else "peft" if is_peft else "transformers",
        "pipeline_tag": PIPELINE_TAG[spec.task],
        "tags": list(dict.fromkeys(["adapta", spec.method.value, spec.task.value] + (["lora"] if spec.method is Method.QLORA else [])
                                   + (["merged"] if merged else [])
                                   + ([spec.objective.value, "trl"] if spec.objective is not Objective.SFT else [])
                                   + (["sentence-transformers", "sentence-similarity", "feature-extraction"]
                                      if spec.task is Task.SENTENCE_EMBEDDING else []))),
    }
    front = {key: value for key, value in front.items() if value is not None}
    license_name = base_model_license(summary.get("base_model_path"))
    if license_name:
        front["license"] = license_name
    if spec.data.from_hub:
        front["datasets"] = [spec.data.train.removeprefix(HUB_DATA_PREFIX)]
    data = summary.get("data", {})
    hyper = spec.training.model_dump(mode="json")
    if spec.method in (Method.LORA, Method.QLORA):
        hyper.update({f"lora_{k}": v for k, v in spec.lora.model_dump(mode="json").items()})
    if spec.task is Task.SENTENCE_EMBEDDING:
        hyper.update({f"embedding_{k}": v for k, v in spec.embedding.model_dump(mode="json").items()})
    if spec.objective is not Objective.SFT:
        hyper["objective"] = spec.objective.value
        section = spec.grpo if spec.objective is Objective.GRPO else spec.preference
        hyper.update({f"{spec.objective.value}_{k}": v for k, v in section.model_dump(mode="json").items()})
    if spec.method is Method.PROMPT_TUNING:
        hyper.update({f"prompt_tuning_{k}": v for k, v in spec.prompt_tuning.model_dump(mode="json").items()})
    hyper_lines = "\n".join(f"| {key} | {value} |" for key, value in hyper.items())
    labels = summary.get("label_names")
    label_text = f"\nLabels: {', '.join(labels)}.\n" if labels else ""
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n"
        f"# {spec.display_name}\n\n"
        f"{_what_it_is(spec, is_peft, merged)} "
        f"{base_model_text(spec)} ({spec.task.value}), trained with Adapta{_objective_text(spec)}.\n"
        f"{label_text}\n"
        f"## Training data\n\n"
        f"{_data_source(spec)} ({data.get('format', spec.data.format.value)} format)\n"
        f"- training examples: {summary.get('train_examples')}, validation examples: {summary.get('eval_examples')}\n"
        f"- rows skipped as unusable: {summary.get('skipped_rows', 0)}\n"
        f"{_data_check_item(summary)}\n"
        f"{results_section(summary, report)}"
        f"## Hyperparameters\n\n| setting | value |\n|---|---|\n{hyper_lines}\n\n"
        f"## Usage\n\n```python\n{_usage_snippet(spec, folder_name, merged)}```\n\n"
        f"## Framework versions\n\n"
        f"python {platform.python_version()}, torch {_version('torch')}, transformers {_version('transformers')}, "
        f"peft {_version('peft')}\n"
    )
