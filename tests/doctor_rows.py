"""Small instruction files with planted problems for the data doctor's product tests (the Data tab, ``/check_data``, training).

Rows 1-6 are clean planet questions; row 7 repeats row 1, row 8 holds an e-mail address and row 9 a Hugging Face token
(built at run time, so no token-shaped string sits in the source).
"""

from __future__ import annotations

import json
from pathlib import Path

PLANETS = [("Zor", "teal"), ("Quill", "amber"), ("Vex", "violet"), ("Morrow", "silver"), ("Nadir", "crimson"), ("Ilex", "jade")]
CLEAN_ROWS = [{"question": f"What colour is planet {name}?", "answer": f"Planet {name} is {colour}."} for name, colour in PLANETS]
DUPLICATE_ROW, EMAIL_ROW, SECRET_ROW = 7, 8, 9
EMAIL = "ana.souza@example.com"


def fake_hf_token() -> str:
    return "hf_" + "Qx7" * 12


def planted_rows() -> list[dict[str, str]]:
    return [*CLEAN_ROWS, CLEAN_ROWS[0],
            {"question": "Who answers questions about planets?", "answer": f"Write to {EMAIL} and the team answers."},
            {"question": "Which token reads the planet catalogue?", "answer": f"The catalogue reads with {fake_hf_token()} today."}]


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_planted(path: Path) -> Path:
    """The nine rows above as JSON Lines."""
    return write_rows(path, planted_rows())
