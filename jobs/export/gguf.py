"""Export a finished causal-LM job to GGUF (llama.cpp, Ollama, LM Studio), write its Modelfile, and verify every file.

    from jobs.export import export_gguf
    result = export_gguf(run_dir, ["f16", "q8_0"], merged_dir=data_home().merged_model_dir(7))
    result.passed, [file.path for file in result.files]

What lands in ``<run>/gguf/``: ``<name>-<TYPE>.gguf`` per type, ``Modelfile`` (Ollama; FROM the 8-bit file when
exported, else the first), and ``gguf_verification.json`` (which verifier ran; per file: size, seconds, whether
llama.cpp loaded it, top-1 agreement, greedy answers beside the merged model's, passed; the tokenizer check; the
llama.cpp pre-tokenizer name written, ``default`` when the tokenizer is not one llama.cpp knows). Files are verified in
llama.cpp itself when it is installed (:mod:`jobs.export.gguf_llamacpp`), else loaded back through transformers; only
files that passed are offered (:func:`offered_files`). A model llama.cpp would not run is refused before the merge
(:func:`jobs.export.gguf_families.gguf_support`). A LoRA job is merged into its base first (once, into ``merged_dir``,
the same folder the Export tab's merge uses); a full fine-tune is exported from its ``model/``.
``python -m jobs.export.gguf RUN_DIR q8_0`` runs it by hand.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import AdaptaError
from jobs.export.gguf_convert import convert_folder, quant_type
from jobs.export.gguf_families import GgufSupport, family_of, gguf_support
from jobs.export.gguf_llamacpp import LlamaCppUnavailable, llamacpp_status
from jobs.export.gguf_verify import Reference, verify_file, verify_files_llamacpp, verify_tokenizer
from jobs.export.gguf_vocab import load_tokenizer, pre_tokenizer_name, space_prefix_note
from jobs.export.merge import ensure_merged
from jobs.export.modelfile import write_modelfile
from jobs.models import read_config, resolve_model
from jobs.spec import JobSpec, Method, Task, load_spec

VERIFICATION_FILE = "gguf_verification.json"
MODELFILE = "Modelfile"
PREFERRED_FOR_OLLAMA = ("q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "f16", "bf16")
VERIFIERS = ("auto", "llama.cpp", "transformers")
Progress = Callable[[float, str], None]


@dataclass
class GgufFile:
    type: str
    path: Path
    size_bytes: int
    seconds: float
    verification: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return self.verification is None or bool(self.verification.get("passed"))


@dataclass
class GgufExport:
    folder: Path
    files: list[GgufFile]
    modelfile: Path
    verification_path: Path
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.report.get("passed"))


def _quiet(_: float, __: str) -> None:
    return None


def job_gguf_support(spec: JobSpec) -> GgufSupport | None:
    """Whether the job's model will export to a GGUF llama.cpp runs, judged from its base model's config and tokenizer on this
    machine, before anything trains (the pre-flight asks); None when the job is not a causal-LM LoRA or full fine-tune, or its
    base is not on this machine yet."""
    if spec.task is not Task.CAUSAL_LM or spec.method not in (Method.LORA, Method.QLORA, Method.FULL):
        return None
    try:
        base = resolve_model(spec.base_model, task=spec.task, revision=spec.base_model_revision).path
    except (AdaptaError, OSError):
        return None
    return gguf_support(read_config(base), base) if (base / "config.json").is_file() else None


def source_folder(run_dir: Path, merged_dir: Path | None) -> Path:
    """The full model to convert: the run's ``model/`` (full fine-tune) or its LoRA merged into the base (merged once); a base
    llama.cpp would not run is refused before the merge."""
    spec = load_spec(run_dir / "spec.yaml")
    if spec.task is not Task.CAUSAL_LM:
        raise AdaptaError(f"GGUF export is for text-generation (causal-lm) jobs; this job's task is {spec.task.value}")
    if (run_dir / "model" / "config.json").is_file():
        return run_dir / "model"
    if spec.method not in (Method.LORA, Method.QLORA):
        raise AdaptaError(f"GGUF export needs a LoRA or full fine-tune; this job used {spec.method.value}, which runtimes like "
                          "llama.cpp cannot load")
    support = job_gguf_support(spec)
    if support is not None and not support.exportable:
        raise AdaptaError(support.reason)
    return ensure_merged(run_dir, merged_dir or run_dir / "merged")


def file_stem(run_dir: Path) -> str:
    """The name the job's GGUF files start with: its spec's name (or ``job-<id>``) made safe for a file name."""
    name = load_spec(run_dir / "spec.yaml").name or f"job-{run_dir.name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def chosen_verifier(verifier: str) -> tuple[str, str]:
    """(the verifier that runs, why): llama.cpp itself when installed (``auto``), else transformers; AdaptaError when llama.cpp
    was asked for by name and is not installed."""
    if verifier not in VERIFIERS:
        raise AdaptaError(f"verifier {verifier!r} is not known; choose one of {', '.join(VERIFIERS)}")
    if verifier == "transformers":
        return "transformers", "asked for"
    status = llamacpp_status()
    if status.installed:
        return "llama.cpp", status.reason
    if verifier == "llama.cpp":
        raise AdaptaError(status.reason)
    return "transformers", status.reason


def export_gguf(run_dir: str | Path, quants: Sequence[str], *, merged_dir: str | Path | None = None, output_dir: str | Path | None = None,
                verify: bool = True, verifier: str = "auto", progress: Progress | None = None) -> GgufExport:
    """Convert the job in ``run_dir`` to each of ``quants`` under ``output_dir`` (default ``<run>/gguf``), write the Modelfile,
    and (``verify``) run every file in llama.cpp (``verifier``: ``auto`` uses it when installed, else transformers loads the
    file back) and compare it with the merged model. Raises AdaptaError with one sentence for a job or model that cannot
    be exported, before any work."""
    run_dir = Path(run_dir)
    report_progress = progress or _quiet
    kinds = [quant_type(name) for name in dict.fromkeys(quants)]
    if not kinds:
        raise AdaptaError("choose at least one GGUF type (e.g. q8_0)")
    used_verifier, verifier_note = chosen_verifier(verifier) if verify else ("none", "not verified")
    if not (run_dir / "spec.yaml").is_file():
        raise AdaptaError(f"{run_dir} is not a finished run folder (no spec.yaml); pick a succeeded job")
    report_progress(0.02, "merge")
    source = source_folder(run_dir, Path(merged_dir) if merged_dir else None)
    architecture, _ = family_of(read_config(source))
    folder = Path(output_dir) if output_dir else run_dir / "gguf"
    folder.mkdir(parents=True, exist_ok=True)
    stem = file_stem(run_dir)
    steps = len(kinds) * (2 if verify else 1) + 1
    done = 0
    files: list[GgufFile] = []
    for kind in kinds:
        report_progress(0.05 + 0.9 * done / steps, f"convert {kind.name}")
        started = time.perf_counter()
        path = convert_folder(source, folder / f"{stem}-{kind.name.upper()}.gguf", kind.name, name=stem)
        files.append(GgufFile(kind.name, path, path.stat().st_size, round(time.perf_counter() - started, 2)))
        done += 1

    report_progress(0.05 + 0.9 * done / steps, "reference")
    reference = Reference.load(source, run_dir) if verify else None
    tokenizer = reference.tokenizer if reference is not None else load_tokenizer(source)
    preferred = next((file for name in PREFERRED_FOR_OLLAMA for file in files if file.type == name), files[0])
    modelfile = folder / MODELFILE
    modelfile_report = write_modelfile(tokenizer, modelfile, preferred.path.name, load_spec(run_dir / "spec.yaml").data.thinking)
    done += 1
    tokenizer_report = None
    if reference is not None and used_verifier == "llama.cpp":
        report_progress(0.05 + 0.9 * done / steps, "verify in llama.cpp")
        try:
            tokenizer_report = _verify_in_llamacpp(reference, files)
        except LlamaCppUnavailable as error:
            if verifier == "llama.cpp":
                raise
            used_verifier, verifier_note = "transformers", str(error)  # no llama.cpp here after all: the fallback verifier
    if reference is not None and used_verifier == "transformers":
        for file in files:
            report_progress(0.05 + 0.9 * done / steps, f"verify {file.type}")
            file.verification = verify_file(reference, file.path, quant_type(file.type)) | {"verifier": "transformers", "loaded": True}
            done += 1
        tokenizer_report = verify_tokenizer(reference, files[0].path) | {"verifier": "transformers"}
    passed = all(file.passed for file in files) and (tokenizer_report is None or tokenizer_report["passed"])
    report = {
        "run": str(run_dir), "source": str(source), "architecture": architecture, "verified": verify, "verifier": used_verifier,
        "verifier_note": verifier_note,
        "prompts": reference.source if reference is not None else None, "tokenizer": tokenizer_report, "modelfile": modelfile_report,
        "pre_tokenizer": pre_tokenizer_name(tokenizer), "tokenizer_note": space_prefix_note(tokenizer),
        "files": [{**(file.verification or {"type": file.type, "file": file.path.name, "size_bytes": file.size_bytes}),
                   "convert_seconds": file.seconds} for file in files],
        "passed": passed,
    }
    verification_path = folder / VERIFICATION_FILE
    verification_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    report_progress(1.0, "done")
    return GgufExport(folder, files, modelfile, verification_path, report)


def _verify_in_llamacpp(reference: Reference, files: list[GgufFile]) -> dict[str, Any]:
    """Every file run in llama.cpp (one process) and judged; returns the tokenizer check (from the first file that loaded)."""
    checks = verify_files_llamacpp(reference, [(file.path, quant_type(file.type)) for file in files])
    for file, check in zip(files, checks, strict=True):
        file.verification = check
    loaded = next((check for check in checks if check["loaded"]), None)
    if loaded is None:
        return {"texts": 0, "identical": 0, "verifier": "llama.cpp", "passed": False}
    return {"texts": loaded["tokenizer_texts"], "identical": loaded["tokenizer_identical"], "verifier": "llama.cpp",
            "chat_prompts": loaded["chat_prompts"], "chat_prompts_identical": loaded["chat_prompts_identical"],
            "warning": loaded.get("warning"), "passed": loaded["tokenizer_identical"] == loaded["tokenizer_texts"]}


def offered_files(result: GgufExport) -> list[Path]:
    """What may be downloaded or pushed: the files that passed their verification (never one llama.cpp refused), the Modelfile
    when the file it names passed, and the verification report."""
    passed = [file.path for file in result.files if file.passed]
    modelfile = [result.modelfile] if result.modelfile.is_file() and _modelfile_source(result.modelfile) in {path.name for path in passed} else []
    return passed + modelfile + [result.verification_path]


def _modelfile_source(modelfile: Path) -> str:
    line = next((line for line in modelfile.read_text(encoding="utf-8").splitlines() if line.startswith("FROM ")), "FROM ")
    return Path(line.removeprefix("FROM ").strip()).name


def summary_rows(result: GgufExport) -> list[dict[str, Any]]:
    """One row per file for a table: type, file, size in MB, top-1 agreement, max logit difference, greedy identical, verdict."""
    rows = []
    for file in result.files:
        check = file.verification or {}
        rows.append({"type": file.type, "file": file.path.name, "size_mb": round(file.size_bytes / 1e6, 1),
                     "top1": check.get("top1_agreement"), "max_logit_diff": check.get("max_logit_difference", "—") if check else None,
                     "greedy": f"{check['greedy_identical']}/{check['greedy_prompts']}" if "greedy_identical" in check else None,
                     "error": check.get("error"),
                     "passed": file.passed if check else None})
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.export.gguf RUN_DIR TYPE...``: export and print the verification report."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print("usage: python -m jobs.export.gguf RUN_DIR TYPE [TYPE...]   (types: f16 bf16 q8_0 q4_0)", file=sys.stderr)
        return 2
    try:
        result = export_gguf(args[0], args[1:])
    except AdaptaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps([asdict(file) | {"path": str(file.path)} for file in result.files], indent=2, default=str))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
