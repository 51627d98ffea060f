"""A retrieval set in an invented vocabulary: the base embedding model cannot read the queries, a fine-tuned one can.

Passages are plain English about one household object with one problem ("The kitchen sink is leaking ...").
Queries name the object and the problem with made-up code words ("zorblat fenwick"). Training queries cover most
(object, problem) combinations; held-out queries combine known code words in combinations never trained on, so
retrieving their passage needs the meaning of each word, not a memorised pair.

    train, held_out, passages = codeword_retrieval_rows()
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OBJECTS = {
    "zorblat": "the kitchen sink", "mervish": "the car engine", "tondrel": "the laptop battery", "quabbin": "the front door lock",
    "plovick": "the washing machine", "snerdle": "the bedroom ceiling fan", "gralpha": "the garden hose", "vintrop": "the office printer",
    "hobbrek": "the bathroom shower", "jaxtel": "the living room television", "cruvvit": "the bicycle chain", "dwemmer": "the refrigerator",
}
PROBLEMS = {
    "fenwick": ("is leaking water everywhere", "Tighten the fittings and replace the worn seal."),
    "brastle": ("is making a loud grinding noise", "Clean the moving parts and oil the bearings."),
    "klumph": ("will not turn on at all", "Check the power supply and reset the breaker."),
    "yorvane": ("is overheating and too hot to touch", "Let it cool down and clear the blocked vents."),
    "spindrel": ("smells like something is burning", "Switch it off at once and look for melted wires."),
    "throbble": ("has a large crack in it", "Seal the crack with epoxy or order a replacement part."),
    "weezum": ("keeps stopping after a few minutes", "Replace the timer switch and update the controller."),
    "droskin": ("is covered in rust and corrosion", "Scrub off the rust and paint it with a protective coat."),
}
TRAIN_TEMPLATES = ("{o} {p}", "my {o} is {p}", "how do I fix a {p} {o}", "{p} problem with the {o}")
HELD_OUT_TEMPLATE = "my {o} is {p}"


def passage(obj: str, problem: str) -> str:
    """The one passage that answers (object, problem)."""
    symptom, fix = PROBLEMS[problem]
    return f"{OBJECTS[obj][0].upper()}{OBJECTS[obj][1:]} {symptom}. {fix}"


def codeword_retrieval_rows(held_out_share: float = 0.2, seed: int = 0) -> tuple[list[dict[str, str]], list[dict[str, str]], list[str]]:
    """(training query/passage rows, held-out query/passage rows, every passage); held-out combinations never appear in training."""
    combos = [(obj, problem) for obj in OBJECTS for problem in PROBLEMS]
    rng = random.Random(seed)
    rng.shuffle(combos)
    held = combos[: round(len(combos) * held_out_share)]
    trained = combos[len(held):]
    train = [{"query": template.format(o=obj, p=problem), "passage": passage(obj, problem)} for obj, problem in trained for template in TRAIN_TEMPLATES]
    rng.shuffle(train)
    held_out = [{"query": HELD_OUT_TEMPLATE.format(o=obj, p=problem), "passage": passage(obj, problem)} for obj, problem in held]
    return train, held_out, [passage(obj, problem) for obj, problem in combos]


def write_codeword_files(folder: Path) -> tuple[Path, Path]:
    """Write ``train.jsonl`` and ``heldout.jsonl`` into ``folder``; returns their paths."""
    train, held_out, _ = codeword_retrieval_rows()
    paths = folder / "train.jsonl", folder / "heldout.jsonl"
    for path, rows in zip(paths, (train, held_out), strict=True):
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return paths
