"""Benchmark: the data doctor (``jobs.data.doctor.check_data``) on 100k short generated rows with planted problems.

Run it offline (about half a minute on a 2-core CPU)::

    .venv/bin/python bench/data_doctor.py                    # 100,000 rows
    .venv/bin/python bench/data_doctor.py --rows 20000       # fewer rows
    .venv/bin/python bench/data_doctor.py --tokenizer tiny   # + the length check (the tests' tokenizer and chat template)

The rows are instruction pairs (a 6-14-word prompt and a 8-20-word answer drawn from ~250 English words, seed 0)
written to a JSONL file in a temporary folder, with problems planted at known rows: exact and normalised duplicates,
near-duplicates (one word changed in a 30-word row), e-mail addresses, CPFs, card numbers, phone numbers, ``hf_``
tokens and conflicting answers (a prompt asked again, in lower case, with another answer), plus a validation file of
1,000 rows of which 100 copy training rows. The check runs once with a progress bar (stderr), as ``launch.py
data-check`` runs it; without a tokenizer unless ``--tokenizer`` is given (then the length check runs too, against
``--max-length``).

It prints the wall time, rows per second, each stage's share, the load average, and whether every planted problem was
found on its rows, and writes ``bench/results/data_doctor.json`` (``--output``). Goal: 100k rows in under 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.data.doctor import check_data  # noqa: E402

WORDS = ("time year people way day man thing woman life child world school state family student group country problem "
         "hand part place case week company system program question work government number night point home water room "
         "mother area money story fact month lot right study book eye job word business issue side kind head house "
         "service friend father power hour game line end member law car city community name president team minute idea "
         "kid body information back parent face others level office door health person art war history party result "
         "change morning reason research girl guy moment air teacher force education foot boy age policy process music "
         "market sense nation plan college interest death experience effect use class control care field development role "
         "effort rate heart drug show leader light voice wife police mind price report decision son view relationship town "
         "road arm difference value building action model season society tax director position player record paper space "
         "ground form event official matter center couple site project activity star table need court oil situation cost "
         "industry figure street image phone data picture practice piece land product doctor wall patient worker news test "
         "movie north love support technology step baby computer type attention film tree source organization hair window "
         "evidence population site training garden river bridge").split()
VERBS = "is was makes takes gives finds tells asks feels becomes leaves puts means keeps lets begins seems helps shows hears plays".split()
CPFS = ["529.982.247-25", "111.444.777-35", "390.533.447-05", "853.513.468-93"]
CARDS = ["4111 1111 1111 1111", "5500 0000 0000 0004", "4012 8888 8888 1881", "3782 822463 10005"]


def sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    words.insert(min(2, len(words)), rng.choice(VERBS))
    return " ".join(words).capitalize() + "."


def generate(rows: int, folder: Path, seed: int = 0) -> tuple[Path, Path, dict[tuple[str, str], set[int]]]:
    """The training and validation files, and the rows (line numbers) where each problem was planted."""
    rng = random.Random(seed)
    records = [{"prompt": sentence(rng, 6, 14), "response": sentence(rng, 8, 20)} for _ in range(rows)]
    planted: dict[tuple[str, str], set[int]] = {}
    step = max(rows // 500, 4)
    for index in range(0, rows - 2, step):  # 500 duplicates, personal data, secrets and conflicting answers
        kind = (index // step) % 9
        if kind == 0:
            records[index + 1] = dict(records[index])
            planted.setdefault(("exact_duplicate", "train"), set()).add(index + 2)
        elif kind == 1:
            records[index + 1] = {key: value.upper().replace(".", " !") for key, value in records[index].items()}
            planted.setdefault(("normalised_duplicate", "train"), set()).add(index + 2)
        elif kind == 2:
            long = {"prompt": sentence(rng, 14, 14), "response": sentence(rng, 16, 16)}
            near = dict(long, response=long["response"][:-1] + " again.")
            records[index], records[index + 1] = long, near
            planted.setdefault(("near_duplicate", "train"), set()).add(index + 2)
        elif kind == 3:
            records[index]["response"] += f" Write to user{index}@example.com."
            planted.setdefault(("email", "train"), set()).add(index + 1)
        elif kind == 4:
            records[index]["response"] += f" CPF {rng.choice(CPFS)}."
            planted.setdefault(("cpf", "train"), set()).add(index + 1)
        elif kind == 5:
            records[index]["response"] += f" Card {rng.choice(CARDS)}."
            planted.setdefault(("card", "train"), set()).add(index + 1)
        elif kind == 6:
            records[index]["response"] += f" Call (11) 9{rng.randint(6000, 9999)}-{rng.randint(1000, 9999)}."
            planted.setdefault(("phone", "train"), set()).add(index + 1)
        elif kind == 8:
            records[index + 1] = {"prompt": records[index]["prompt"].lower(), "response": sentence(rng, 8, 20)}
            planted.setdefault(("conflicting_answer", "train"), set()).update({index + 1, index + 2})
        else:
            token = "hf_" + "".join(rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(34))
            records[index]["response"] += f" Token {token}."
            planted.setdefault(("secret", "train"), set()).add(index + 1)
    validation = [{"prompt": sentence(rng, 6, 14), "response": sentence(rng, 8, 20)} for _ in range(1000)]
    for position in range(0, 1000, 10):
        validation[position] = dict(records[rng.randrange(rows)])
        planted.setdefault(("validation_copy", "validation"), set()).add(position + 1)
    train, valid = folder / "train.jsonl", folder / "valid.jsonl"
    train.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    valid.write_text("".join(json.dumps(record) + "\n" for record in validation), encoding="utf-8")
    return train, valid, planted


def load_tokenizer(name: str, folder: Path) -> object:
    """The tests' tiny tokenizer (built into ``folder``) or a model folder's tokenizer."""
    from transformers import AutoTokenizer

    if name == "tiny":
        from tests.tiny import build_tokenizer

        build_tokenizer(folder / "tokenizer")
        name = str(folder / "tokenizer")
    return AutoTokenizer.from_pretrained(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "data_doctor.json")
    parser.add_argument("--tokenizer", help="also check lengths: 'tiny' (the tests' byte-level BPE with a chat template) or a "
                                            "model folder with a tokenizer")
    parser.add_argument("--max-length", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adapta-doctor-bench-") as folder:
        train, valid, planted = generate(args.rows, Path(folder))
        tokenizer = load_tokenizer(args.tokenizer, Path(folder)) if args.tokenizer else None
        load_before = os.getloadavg()[0]
        stage_seconds: dict[str, float] = {}
        started = time.perf_counter()
        last = [started]
        with tqdm(total=100, unit="%", file=sys.stderr, leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}") as bar:
            def progress(fraction: float, stage: str) -> None:  # called during and at the end of ``stage``
                now = time.perf_counter()
                stage_seconds[stage] = stage_seconds.get(stage, 0.0) + now - last[0]
                last[0] = now
                bar.set_description_str(stage, refresh=False)
                bar.update(max(round(fraction * 100) - bar.n, 0))

            check = check_data(train, valid, progress=progress, tokenizer=tokenizer, max_length=args.max_length)
        wall = time.perf_counter() - started
        load_after = os.getloadavg()[0]
    found = {(f.kind, f.file): set(f.rows) for f in check.findings if f.kind != "too_long"}
    missed = {f"{kind}/{file}": sorted(rows - found.get((kind, file), set()))[:5] for (kind, file), rows in planted.items()
              if not rows <= found.get((kind, file), set())}
    extra = {f"{kind}/{file}": len(rows - planted.get((kind, file), set())) for (kind, file), rows in found.items()
             if rows - planted.get((kind, file), set())}
    result = {"rows": args.rows + 1000, "wall_s": round(wall, 2), "rows_per_s": round((args.rows + 1000) / wall),
              "stages_s": {stage: round(seconds, 2) for stage, seconds in stage_seconds.items()},
              "load_average": [round(load_before, 2), round(load_after, 2)], "cpus": os.cpu_count(), "python": platform.python_version(),
              "tokenizer": args.tokenizer, "max_length": args.max_length if args.tokenizer else None,
              "summary": check.summary(), "planted_missed": missed, "found_beyond_planted": extra, "goal_s": 60}
    print(f"| rows | wall s | rows/s | load (start, end) | planted problems found |\n|---:|---:|---:|---|---|\n"
          f"| {result['rows']:,} | {wall:.1f} | {result['rows_per_s']:,} | {load_before:.1f}, {load_after:.1f} | "
          f"{'all' if not missed else missed} |")
    print("stages: " + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result["stages_s"].items()))
    print(f"summary: {check.summary()}; beyond the planted rows: {extra or 'nothing'}")
    print(f"goal: under 60 s: {'met' if wall < 60 else 'NOT met'}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if wall < 60 and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
