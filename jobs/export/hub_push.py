"""Push a finished run to the Hugging Face Hub: the adapter (or full model), its model card and a loss plot.

    from jobs.export.hub_push import push_run
    url = push_run(run_dir, "me/my-adapter", token=token, private=True)
    url = push_gguf_run(run_dir, "me/my-gguf", token=token, quants=["q8_0"], merged_dir=merged)  # verified GGUF + Modelfile

The token is used for this call only: it is handed to ``HfApi`` in memory and never written to the
database, a spec, a log or the run folder. Everything is uploaded in one commit built from the run's
files plus two generated in memory (the card with the plot reference, and ``loss.svg``). The endpoint
follows ``HF_ENDPOINT`` (tests point it at a loopback server standing in for the Hub).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from jobs.errors import AdaptaError
from jobs.export.gguf import MODELFILE, PREFERRED_FOR_OLLAMA, VERIFICATION_FILE, export_gguf, file_stem
from jobs.export.hub_client import hub_api, hub_unreachable, valid_repo_id
from jobs.export.merge import MERGE_COMPLETE, ensure_merged
from jobs.export.model_card import render_model_card
from jobs.export.modelfile import point_modelfile
from jobs.metrics import read_metrics_jsonl
from jobs.spec import load_spec
from jobs.trainers.images.sample_index import read_sample_index

SKIPPED_FILES = {"training_args.bin", MERGE_COMPLETE}
VERIFIED_BY = {"llama.cpp": "run in llama.cpp itself", "transformers": "loaded back through transformers"}


def loss_svg(metrics: list[dict], width: int = 640, height: int = 320) -> str | None:
    """An SVG line plot of the training loss (and eval loss) by step; None when nothing was logged."""
    series = {
        name: [(row["step"], row[name]) for row in metrics if isinstance(row.get(name), (int, float))]
        for name in ("loss", "eval_loss")
    }
    points = [point for values in series.values() for point in values]
    if not points:
        return None
    margin = 40
    steps = [step for step, _ in points]
    values = [value for _, value in points]
    low_step, high_step = min(steps), max(max(steps), min(steps) + 1)
    low, high = min(values), max(max(values), min(values) + 1e-9)

    def xy(step: float, value: float) -> str:
        x = margin + (step - low_step) / (high_step - low_step) * (width - 2 * margin)
        y = height - margin - (value - low) / (high - low) * (height - 2 * margin)
        return f"{x:.1f},{y:.1f}"

    colours = {"loss": "#4f46e5", "eval_loss": "#059669"}
    lines = [
        f'<polyline fill="none" stroke="{colours[name]}" stroke-width="2" points="{" ".join(xy(s, v) for s, v in values_)}"/>'
        for name, values_ in series.items()
        if values_
    ]
    labels = [
        f'<text x="{margin}" y="20" font-size="13" fill="#4f46e5">loss</text>',
        f'<text x="{margin + 50}" y="20" font-size="13" fill="#059669">{"eval_loss" if series["eval_loss"] else ""}</text>',
        f'<text x="{margin}" y="{height - 10}" font-size="11">step {low_step}</text>',
        f'<text x="{width - margin - 60}" y="{height - 10}" font-size="11">step {high_step}</text>',
        f'<text x="4" y="{margin}" font-size="11">{high:.3g}</text>',
        f'<text x="4" y="{height - margin}" font-size="11">{low:.3g}</text>',
    ]
    axes = f'<rect x="{margin}" y="{margin}" width="{width - 2 * margin}" height="{height - 2 * margin}" fill="none" stroke="#ccc"/>'
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{axes}{"".join(lines)}{"".join(labels)}</svg>\n'


def _card_with_plot(card: str, has_plot: bool) -> str:
    if not has_plot or "## Results" not in card:
        return card
    return card.replace("## Results\n", "## Results\n\n![Training loss](loss.svg)\n", 1)


def _card_with_samples(card: str, run_dir: Path) -> tuple[str, list[Path]]:
    """For a text-to-image card: the sample images it shows (uploaded to ``samples/``) and the card pointing at them, with a
    Hub ``widget`` so the model page shows them next to their prompts."""
    shown = set(re.findall(r"\]\(\.\./samples/([A-Za-z0-9._-]+)\)", card))
    rows = [row for row in read_sample_index(run_dir) if row["file"] in shown]
    if not rows:
        return card, []
    card = card.replace("](../samples/", "](samples/")
    if card.startswith("---\n"):
        _, front_text, body = card.split("---", 2)
        front = yaml.safe_load(front_text) or {}
        front["widget"] = [{"text": row["prompt"], "output": {"url": f"samples/{row['file']}"}} for row in rows]
        card = f"---\n{yaml.safe_dump(front, sort_keys=False)}---{body}"
    return card, [Path(row["path"]) for row in rows]


def push_merged_run(run_dir: str | Path, repo_id: str, *, token: str | None, merged_dir: str | Path, private: bool = False) -> str:
    """Merge the run's LoRA into its base (once, into ``merged_dir``), give it its own card, and push that model."""
    run_dir, merged_dir = Path(run_dir), Path(merged_dir)
    if not valid_repo_id(repo_id):
        raise AdaptaError(f"repository id {repo_id!r} is not valid; use OWNER/NAME, e.g. my-name/smollm2-planets-merged")
    spec = load_spec(run_dir / "spec.yaml")
    ensure_merged(run_dir, merged_dir)  # a sentence-embedding run: a complete sentence-transformers folder, pooling modules included
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    (merged_dir / "README.md").write_text(render_model_card(spec, summary, repo_id, merged=True), encoding="utf-8")
    return push_run(run_dir, repo_id, token=token, private=private, folder=merged_dir)


def gguf_card(card: str, repo_id: str, report: dict) -> str:
    """The merged model's card made a GGUF repo's card: ``library_name: gguf`` and GGUF tags for the Hub, and a section on running
    the files with llama.cpp, Ollama and LM Studio, with the verification numbers."""
    if card.startswith("---\n"):
        _, front_text, body = card.split("---", 2)
        front = yaml.safe_load(front_text) or {}
        front["library_name"] = "gguf"
        front["tags"] = list(dict.fromkeys([*(front.get("tags") or []), "gguf", "llama.cpp", "ollama"]))
        card = f"---\n{yaml.safe_dump(front, sort_keys=False)}---{body}"
    files = report.get("files") or []
    first = files[0]["file"] if files else "model.gguf"
    tag = first.rsplit("-", 1)[-1].removesuffix(".gguf") if "-" in first else "latest"
    rows = "\n".join(f"| `{row['file']}` | {row['size_bytes'] / 1e6:.1f} MB | {row.get('top1_agreement', '')} | "
                     f"{row.get('max_logit_difference', '')} | {'passed' if row.get('passed') else 'failed'} |" for row in files)
    section = (
        "## Run it with llama.cpp, Ollama or LM Studio\n\n"
        "| file | size | top-1 agreement with the merged model | max logit difference | verification |\n|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"```bash\nllama-cli -hf {repo_id}:{tag}            # llama.cpp\nollama run hf.co/{repo_id}:{tag}      # Ollama, straight from the Hub\n"
        f"# or download the files, then: ollama create my-model -f Modelfile && ollama run my-model\n```\n\n"
        f"LM Studio: search for this repository in its model browser. Each file was {VERIFIED_BY.get(report.get('verifier'), VERIFIED_BY['transformers'])} "
        "after export and compared with the merged model on prompts from the job's data (`gguf_verification.json`).\n\n"
    )
    return card.replace("## Usage\n", section + "## Usage\n", 1) if "## Usage\n" in card else card + "\n" + section


def push_gguf_run(run_dir: str | Path, repo_id: str, *, token: str | None, quants: list[str], merged_dir: str | Path,
                  private: bool = False) -> str:
    """Export the run to GGUF (each of ``quants``; files already exported and verified are reused), then push the GGUF files,
    the Modelfile, the verification report and a GGUF card to ``repo_id``; a failed verification is not pushed."""
    run_dir = Path(run_dir)
    if not valid_repo_id(repo_id):
        raise AdaptaError(f"repository id {repo_id!r} is not valid; use OWNER/NAME, e.g. my-name/smollm2-planets-gguf")
    if not token:
        raise AdaptaError("pushing needs a Hugging Face token with write access: sign in, paste one, or set HF_TOKEN")
    folder = run_dir / "gguf"
    stem = file_stem(run_dir)
    wanted = {name.lower() for name in quants}
    report_path = folder / VERIFICATION_FILE
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
    have = {row["type"] for row in report.get("files", []) if (folder / row["file"]).is_file()}
    if not wanted <= have or not report.get("passed"):
        report = export_gguf(run_dir, sorted(wanted), merged_dir=merged_dir).report
    if not report.get("passed"):
        raise AdaptaError(f"the GGUF export of {run_dir.name} failed its verification (see {VERIFICATION_FILE}); it was not pushed")
    spec = load_spec(run_dir / "spec.yaml")
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    report = {**report, "files": [row for row in report["files"] if row["type"] in wanted]}
    (folder / "README.md").write_text(gguf_card(render_model_card(spec, summary, repo_id, merged=True), repo_id, report), encoding="utf-8")
    keep = {f"{stem}-{name.upper()}.gguf" for name in wanted}  # only the chosen types go up; others stay on disk
    point_modelfile(folder / MODELFILE, sorted(keep, key=lambda name: PREFERRED_FOR_OLLAMA.index(name.rsplit("-", 1)[-1][:-5].lower()))[0])
    return push_run(run_dir, repo_id, token=token, private=private, folder=folder, only=keep | {MODELFILE, VERIFICATION_FILE})


def push_run(run_dir: str | Path, repo_id: str, *, token: str | None, private: bool = False, folder: str | Path | None = None,
             only: set[str] | None = None) -> str:
    """Create ``repo_id`` (if needed) and upload the run's adapter/model folder (or ``folder``; ``only``: just these files of it)
    with its card; returns the repo URL."""
    import httpx
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    run_dir = Path(run_dir)
    if not valid_repo_id(repo_id):
        raise AdaptaError(f"repository id {repo_id!r} is not valid; use OWNER/NAME, e.g. my-name/smollm2-planets-lora")
    if not token:
        raise AdaptaError("pushing needs a Hugging Face token with write access: sign in, paste one, or set HF_TOKEN")
    source = Path(folder) if folder else next((run_dir / name for name in ("adapter", "model") if (run_dir / name).is_dir()), None)
    if source is None or not source.is_dir():
        raise AdaptaError(f"{run_dir} has no adapter/ or model/ folder yet; wait for the job to succeed before pushing")
    metrics = read_metrics_jsonl(run_dir / "metrics.jsonl")
    plot = loss_svg(metrics)
    card_path = source / "README.md" if (source / "README.md").is_file() else run_dir / "README.md"
    card = _card_with_plot(card_path.read_text(encoding="utf-8"), plot is not None) if card_path.is_file() else f"# {repo_id}\n"
    card, samples = _card_with_samples(card, run_dir)

    operations = [
        CommitOperationAdd(path_in_repo=path.relative_to(source).as_posix(), path_or_fileobj=str(path))
        for path in sorted(source.rglob("*"))
        if path.is_file() and path.name not in SKIPPED_FILES and path.name != "README.md" and (only is None or path.name in only)
    ]
    operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8")))
    if plot is not None:
        operations.append(CommitOperationAdd(path_in_repo="loss.svg", path_or_fileobj=plot.encode("utf-8")))
    operations += [CommitOperationAdd(path_in_repo=f"samples/{image.name}", path_or_fileobj=str(image)) for image in samples]

    api = hub_api(token)
    try:
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.create_commit(repo_id, operations, commit_message=f"Upload {source.name} trained with Adapta", repo_type="model")
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            raise AdaptaError(f"the Hub refused the token for {repo_id} (HTTP {status}); use a token with write access to that namespace") from None
        raise AdaptaError(f"the Hub could not take the upload to {repo_id} (HTTP {status}); try again later") from None
    except (OSError, httpx.TransportError) as error:
        raise hub_unreachable(error) from None
    return str(repo_url)
