"""Benchmark: Adapta's model downloader vs ``hf download``, the same files from the same loopback Hub, in one run.

    .venv/bin/python bench/download_throughput.py [--repeats 3] [--warmup 1] [--phases] [--lazy-probe] [--keep]

A fake Hub (``tests/fake_hub.py``) runs in its own process (so its server threads never compete with the measured
client for a GIL) and serves ``bench/model``: a Llama-shaped repo with ``config.json``, ``generation_config.json``,
``tokenizer_config.json``, a ~2 MB ``tokenizer.json``, ~400 MB of random float32 weights as two valid safetensors
shards plus ``model.safetensors.index.json``, and decoys no downloader should fetch (a ``pytorch_model.bin``, a
``README.md``). File hashes are computed once at start (the real Hub stores them; the fake one would otherwise hash
hundreds of MB on every request and the server, not the client, would be measured).

Each repetition runs, as subprocesses with a fresh ``HF_HUB_CACHE`` and ``HF_ENDPOINT`` pointing at the fake Hub:

- Adapta: ``python launch.py download bench/model`` (``plan_download`` + ``download_model``);
- baseline: ``hf download bench/model --include <the same 7 files>``.

The two alternate (A/B, then B/A, ...) after ``--warmup`` untimed pairs; the wall time of each process (start to
exit, Python start-up included: what a user waits for) gives MB/s = fetched bytes / wall seconds. Reported: the
median MB/s of each side and the ratio Adapta ÷ hf (goal: >= 0.9). The first pair's caches are checked to hold
exactly the wanted files, byte-identical to each other and to what the Hub served, and no decoy.

``--phases`` also times Adapta's steps in this process (metadata, blob fetch, sha256 check, snapshot linking) against
``snapshot_download`` alone, and the start-up of each CLI (``import jobs.hub.download`` vs ``hf download --help``), to
see where a difference comes from. ``--lazy-probe`` adds a third side to every repetition: ``launch.py download`` with
``jobs.models`` swapped for a bare package, so its ``__init__`` (which imports torch and transformers) never runs.

Results: a table on stdout and ``bench/results/download_throughput.json``. About 1.5 minutes on a 2-core machine
(2-3 minutes with ``--phases --lazy-probe``; more when the machine is busy: torch's import time grows fastest).
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPO_ID = "bench/model"
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
WANTED = ("config.json", "generation_config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json", *SHARDS)
DECOYS = ("pytorch_model.bin", "README.md")
VOCAB, HIDDEN, INTERMEDIATE, LAYERS = 35000, 1024, 2816, 5


# ---- the repository and the server (``--serve``) -------------------------------------------------------------------


def _tokenizer_json(rng: Any) -> bytes:
    """A BPE ``tokenizer.json`` of VOCAB tokens and merges, shaped like a real one (~2 MB)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab: dict[str, int] = {}
    while len(vocab) < VOCAB:
        word = "".join(letters[i] for i in rng.integers(0, 26, int(rng.integers(2, 10))))
        vocab.setdefault(("\u0120" if rng.random() < 0.5 else "") + word, len(vocab))
    tokens = list(vocab)
    merges = [f"{tokens[i][:len(tokens[i]) // 2]} {tokens[i][len(tokens[i]) // 2:]}" for i in range(256, VOCAB)]
    payload = {"version": "1.0", "truncation": None, "padding": None,
               "added_tokens": [{"id": 0, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
                                 "special": True}],
               "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
               "post_processor": None, "decoder": {"type": "ByteLevel"},
               "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                         "merges": merges}}
    return json.dumps(payload, ensure_ascii=False, indent=2).encode()


def build_repo(seed: int = 0) -> dict[str, bytes]:
    """The repo's files: config, tokenizer, two float32 safetensors shards (~400 MB) with their index, and decoys."""
    import numpy as np
    from safetensors.numpy import save

    rng = np.random.default_rng(seed)
    shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}."
        shapes.update({prefix + f"self_attn.{name}_proj.weight": (HIDDEN, HIDDEN) for name in "qkvo"})
        shapes.update({prefix + "mlp.gate_proj.weight": (INTERMEDIATE, HIDDEN), prefix + "mlp.up_proj.weight": (INTERMEDIATE, HIDDEN),
                       prefix + "mlp.down_proj.weight": (HIDDEN, INTERMEDIATE), prefix + "input_layernorm.weight": (HIDDEN,),
                       prefix + "post_attention_layernorm.weight": (HIDDEN,)})
    shapes["model.norm.weight"] = (HIDDEN,)
    total = sum(4 * int(np.prod(shape)) for shape in shapes.values())
    shards: list[dict[str, Any]] = [{}, {}]
    filled = 0
    for name, shape in shapes.items():  # the first shard takes tensors until it holds half the bytes
        shards[0 if filled < total / 2 else 1][name] = (rng.standard_normal(shape, dtype=np.float32) * 0.02)
        filled += 4 * int(np.prod(shape))
    files = {path: save(tensors, metadata={"format": "pt"}) for path, tensors in zip(SHARDS, shards, strict=True)}
    files["model.safetensors.index.json"] = json.dumps({"metadata": {"total_size": total}, "weight_map": {
        name: path for path, tensors in zip(SHARDS, shards, strict=True) for name in tensors}}, indent=2).encode()
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB, "hidden_size": HIDDEN,
              "intermediate_size": INTERMEDIATE, "num_hidden_layers": LAYERS, "num_attention_heads": 16, "num_key_value_heads": 16,
              "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "torch_dtype": "float32",
              "bos_token_id": 0, "eos_token_id": 0}
    files["config.json"] = json.dumps(config, indent=2).encode()
    files["generation_config.json"] = json.dumps({"bos_token_id": 0, "eos_token_id": 0}, indent=2).encode()
    files["tokenizer_config.json"] = json.dumps({"bos_token": "<s>", "eos_token": "<s>", "model_max_length": 2048,
                                                 "tokenizer_class": "PreTrainedTokenizerFast"}, indent=2).encode()
    files["tokenizer.json"] = _tokenizer_json(rng)
    files["pytorch_model.bin"] = rng.bytes(8 * 1024 * 1024)
    files["README.md"] = b"---\nlicense: apache-2.0\n---\n\n# A benchmark model\n"
    return files


def serve() -> None:
    """Build the repo, serve it on a loopback fake Hub, print one JSON line (url, sizes, sha256s), serve until stdin closes."""
    from tests.fake_hub import FakeHub, ModelRepo

    class HashedRepo(ModelRepo):
        """A ModelRepo whose ETags and metadata are computed once (the real Hub stores them) instead of on every request."""

        def __post_init__(self) -> None:
            super().__post_init__()
            self._etags = {path: ModelRepo.etag(self, path) for path in self.files}
            self._entries = {(path, blobs): ModelRepo.file_entry(self, path, blobs) for path in self.files for blobs in (False, True)}

        def etag(self, path: str) -> str:
            return self._etags[path]

        def file_entry(self, path: str, with_blobs: bool) -> dict[str, Any]:
            return json.loads(json.dumps(self._entries[(path, with_blobs)]))

    files = build_repo()
    with FakeHub(repos={REPO_ID: HashedRepo(files=files)}) as hub:
        sha256 = {path: hashlib.sha256(content).hexdigest() for path, content in files.items()}
        print(json.dumps({"url": hub.url, "sizes": {path: len(content) for path, content in files.items()}, "sha256": sha256}), flush=True)
        sys.stdin.read()


# ---- the measurement ---------------------------------------------------------------------------------------------


def snapshot_folder(cache: Path) -> Path:
    snapshots = sorted((cache / "models--bench--model" / "snapshots").iterdir())
    if len(snapshots) != 1:
        raise SystemExit(f"expected one snapshot in {cache}, found {snapshots}")
    return snapshots[0]


def snapshot_files(cache: Path) -> list[str]:
    folder = snapshot_folder(cache)
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


# ``launch.py download`` with ``jobs.models`` replaced by a bare package (its submodules still import from the folder) instead
# of its ``__init__``, which imports every submodule (``jobs.models.loading`` loads torch and transformers only when called):
# what the package's ``__init__`` costs.
LAZY_BOOTSTRAP = f"""
import sys, types
sys.path.insert(0, {str(ROOT)!r})
import jobs
package = types.ModuleType("jobs.models")
package.__path__ = [{str(ROOT / "jobs" / "models")!r}]
sys.modules["jobs.models"] = jobs.models = package
import launch
sys.exit(launch.main())
"""
LABELS = {"adapta": "Adapta (launch.py download)", "hf": "hf download", "lazy": "Adapta, jobs.models not imported eagerly (probe)"}


def run_side(side: str, cache: Path, env: dict[str, str], log: Path) -> float:
    """One download as a subprocess into ``cache``; the wall seconds from start to exit."""
    if side == "adapta":
        command = [sys.executable, str(ROOT / "launch.py"), "download", REPO_ID]
    elif side == "lazy":
        command = [sys.executable, "-c", LAZY_BOOTSTRAP, "download", REPO_ID]
    else:
        command = [str(Path(sys.executable).with_name("hf")), "download", REPO_ID, "--cache-dir", str(cache)]
        for name in WANTED:
            command += ["--include", name]
    env = {**env, "HF_HUB_CACHE": str(cache)}
    with log.open("w") as output:
        started = time.perf_counter()
        finished = subprocess.run(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{side} download failed (exit {finished.returncode}):\n{log.read_text()[-3000:]}")
    return seconds


def verify(caches: dict[str, Path], served: dict[str, Any]) -> dict[str, Any]:
    """Both caches hold exactly WANTED, byte-identical to each other and to the served bytes; no decoy blob anywhere."""
    listed = {side: snapshot_files(cache) for side, cache in caches.items()}
    for side, names in listed.items():
        if names != sorted(WANTED):
            raise SystemExit(f"{side} cache holds {names}, expected {sorted(WANTED)}")
        blobs = {path.name for path in (caches[side] / "models--bench--model" / "blobs").iterdir()}
        stray = [name for name in blobs if name.endswith(".incomplete")]
        decoys = [name for name in DECOYS if served["sha256"][name] in blobs]
        if stray or decoys or len(blobs) != len(WANTED):
            raise SystemExit(f"{side} cache blobs: {len(blobs)} (stray partial files {stray}, decoys {decoys})")
    folders = [snapshot_folder(cache) for cache in caches.values()]
    for name in WANTED:
        for other in folders[1:]:
            if not filecmp.cmp(folders[0] / name, other / name, shallow=False):
                raise SystemExit(f"{name} differs between {folders[0]} and {other}")
        digest = hashlib.sha256()
        with (folders[0] / name).open("rb") as handle:
            for block in iter(lambda: handle.read(8 * 1024 * 1024), b""):
                digest.update(block)
        if digest.hexdigest() != served["sha256"][name]:
            raise SystemExit(f"{name} differs from what the Hub served")
    return {"caches": list(caches), "files": sorted(WANTED), "identical": True, "decoys_fetched": False}


def phases(env: dict[str, str], work: Path) -> dict[str, float]:
    """Adapta's steps timed in this process, then ``snapshot_download`` alone (what ``hf download`` runs), each into a fresh cache."""
    import threading

    os.environ.update(env)
    from huggingface_hub import snapshot_download

    from jobs.hub import download as adapta
    from jobs.hub.download_plan import plan_download

    timings: dict[str, float] = {}
    cache = work / "phases-adapta"
    hashing = [0.0]
    original = adapta._verify_and_place

    def timed_verify(*args: Any) -> None:
        started = time.perf_counter()
        original(*args)
        hashing[0] += time.perf_counter() - started

    adapta._verify_and_place = timed_verify
    try:
        started = time.perf_counter()
        plan = plan_download(REPO_ID, cache_dir=cache)
        timings["adapta: plan (model_info + HEAD config)"] = time.perf_counter() - started
        started = time.perf_counter()
        adapta._fetch_all(plan, cache, None, threading.Event())
        timings["adapta: fetch blobs (parallel GETs)"] = time.perf_counter() - started
        timings["adapta:   of which size + sha256 check (summed over threads)"] = hashing[0]
        started = time.perf_counter()
        snapshot_download(REPO_ID, revision=plan.commit, cache_dir=cache, allow_patterns=adapta.allow_patterns(list(plan.files)),
                          max_workers=adapta.DOWNLOAD_WORKERS, tqdm_class=adapta._progress_bar_class(None))
        timings["adapta: snapshot_download linking (HEADs, symlinks)"] = time.perf_counter() - started
    finally:
        adapta._verify_and_place = original
    timings["adapta: total"] = sum(value for key, value in timings.items() if not key.startswith("adapta:   "))
    started = time.perf_counter()
    snapshot_download(REPO_ID, cache_dir=work / "phases-hf", allow_patterns=list(WANTED), max_workers=8)
    timings["hf: snapshot_download total"] = time.perf_counter() - started
    lazy_import = LAZY_BOOTSTRAP.replace("import launch\nsys.exit(launch.main())", "import jobs.hub.download")
    probes = {"startup: python -c 'import jobs.hub.download' (as launch.py download)": [sys.executable, "-c", "import jobs.hub.download"],
              "startup: the same, jobs.models not imported eagerly": [sys.executable, "-c", lazy_import],
              "startup: hf download --help": [str(Path(sys.executable).with_name("hf")), "download", "--help"]}
    for name, command in probes.items():
        seconds = []
        for _ in range(2):
            started = time.perf_counter()
            subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            seconds.append(time.perf_counter() - started)
        timings[name] = min(seconds)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed pairs first (default 1)")
    parser.add_argument("--phases", action="store_true", help="also time Adapta's phases in-process and the start-up of each CLI")
    parser.add_argument("--lazy-probe", action="store_true",
                        help="also time launch.py download with jobs.models not imported eagerly (what a lazy jobs/models/__init__ would give)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (caches, logs)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "download_throughput.json")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0

    work = Path(tempfile.mkdtemp(prefix="adapta-bench-download-"))
    server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        served = json.loads(server.stdout.readline() or "null")
        if not served:
            raise SystemExit("the fake Hub did not start")
        fetched = sum(served["sizes"][name] for name in WANTED)
        print(f"fake Hub {served['url']}: {REPO_ID}, {len(WANTED)} files to fetch, {fetched / 1e6:.1f} MB "
              f"(decoys {', '.join(DECOYS)}: {sum(served['sizes'][name] for name in DECOYS) / 1e6:.1f} MB)", flush=True)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")) and key not in ("ADAPTA_DB_URL", "TRANSFORMERS_OFFLINE")}
        env.update({"HF_ENDPOINT": served["url"], "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1",
                    "HF_HOME": str(work / "hf-home"), "ADAPTA_HOME": str(work / "adapta-home"), "PYTHONDONTWRITEBYTECODE": "1"})
        runs: list[dict[str, Any]] = []
        check: dict[str, Any] | None = None
        sides = ["adapta", "hf", *(["lazy"] if args.lazy_probe else [])]
        for index in range(args.warmup + args.repeats):
            timed = index >= args.warmup
            order = sides[index % len(sides):] + sides[:index % len(sides)] if len(sides) > 2 or index % 2 == 0 else sides[::-1]
            caches = {}
            for side in order:
                caches[side] = work / f"cache-{index}-{side}"
                os.sync()  # the previous run's writes reach the disk outside the measurement
                seconds = run_side(side, caches[side], env, work / f"log-{index}-{side}.txt")
                runs.append({"run": index - args.warmup + 1 if timed else "warm-up", "side": side, "seconds": round(seconds, 3),
                             "mb_per_s": round(fetched / 1e6 / seconds, 1)})
                print(f"  {'run ' + str(runs[-1]['run']) if timed else 'warm-up'}: {side:6s} {seconds:6.2f} s  "
                      f"{fetched / 1e6 / seconds:7.1f} MB/s", flush=True)
            if check is None:
                check = verify(caches, served)
            if not args.keep:
                for cache in caches.values():
                    shutil.rmtree(cache)
        timings = phases(env, work) if args.phases else None
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    timed_runs = [run for run in runs if run["run"] != "warm-up"]
    median = {side: statistics.median(run["mb_per_s"] for run in timed_runs if run["side"] == side) for side in sides}
    seconds = {side: statistics.median(run["seconds"] for run in timed_runs if run["side"] == side) for side in sides}
    ratio = median["adapta"] / median["hf"]
    print(f"\n{len(WANTED)} files, {fetched / 1e6:.1f} MB, loopback fake Hub; wall time of each process (start-up included)\n")
    print("| run | side | wall s | MB/s |\n|---|---|---:|---:|")
    for run in timed_runs:
        print(f"| {run['run']} | {LABELS[run['side']]} | {run['seconds']:.2f} | {run['mb_per_s']:.1f} |")
    for side in sides:
        print(f"| **median** | {LABELS[side]} | {seconds[side]:.2f} | {median[side]:.1f} |")
    print(f"| **ratio** | Adapta ÷ hf download | | **{ratio:.3f}** |")
    if "lazy" in sides:
        print(f"| ratio (probe) | Adapta, jobs.models not imported eagerly ÷ hf download | | {median['lazy'] / median['hf']:.3f} |")
    print(f"\nthroughput ratio {ratio:.3f} (goal >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'}); caches byte-identical: {check['identical']}")
    if timings:
        print("\n| phase (in-process) | s |\n|---|---:|")
        for name, value in timings.items():
            print(f"| {name} | {value:.2f} |")
    result = {"repo": REPO_ID, "files": list(WANTED), "bytes": fetched, "runs": runs, "median_mb_per_s": median, "median_seconds": seconds,
              "ratio_adapta_over_hf": round(ratio, 4),
              "ratio_lazy_probe_over_hf": round(median["lazy"] / median["hf"], 4) if "lazy" in sides else None,
              "goal": 0.9, "goal_met": ratio >= 0.9, "verification": check, "phases": timings}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
