"""Duplicates: exact, normalised (case, whitespace and punctuation ignored) and near-duplicates, within the training file
and between the training and validation files.

"Normalised" is :func:`jobs.data.split.content_key`, the key the split keeps on one side, so what this reports is
what the split groups. Near-duplicates are found with MinHash and LSH banding over word trigrams of the normalised
text (:func:`minhash_signatures`, :func:`band_keys`: numpy over every row at once), and every candidate pair LSH
proposes is confirmed by the exact Jaccard similarity of the two rows' trigram sets (:data:`NEAR_THRESHOLD`). Rows with
different labels (classification, feedback) are never near-duplicates of each other: the same text with another label is
a conflict (:mod:`~jobs.data.doctor.conflicts`), which the fix keeps. In every group the first row is kept and the later
ones are listed (and removed by the fix).

``datasketch`` was measured for this and left out: it hashes and indexes row by row in Python (20 s for 30k short
rows on this 2-core machine under load, against about 4 s for 100k rows here; docs/data-doctor.md).

    findings = duplicate_findings(train, validation)
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from jobs.data.doctor.findings import Finding
from jobs.data.doctor.reading import DataFile, DoctorRow, excerpt
from jobs.data.split import normalise_text

NEAR_THRESHOLD = 0.8
"""Two rows whose word-trigram sets have a Jaccard similarity of at least this are near-duplicates."""
NUM_PERM = 64
BANDS = 16
"""64 MinHash values in 16 bands of 4: a pair at Jaccard 0.8 shares a band with probability 0.9998, at 0.3 with 0.12."""
MAX_PER_BUCKET = 32
"""Rows compared per shared bucket, so templated data (thousands of rows sharing a bucket) stays linear."""
MIN_WORDS = 6
"""Rows with fewer words are too short to call near-duplicates (their exact and normalised copies are still found)."""
SHINGLE = 3
REMOVED = "removed (the first copy is kept)"
Progress = Callable[[float], None]


def shingles(text: str) -> set[str] | None:
    """The word trigrams of ``text`` once normalised, or None when it has fewer than :data:`MIN_WORDS` words."""
    words = normalise_text(text).split()
    if len(words) < MIN_WORDS:
        return None
    return {" ".join(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def minhash_signatures(sets: list[set[str]], num_perm: int = NUM_PERM, seed: int = 1) -> np.ndarray:
    """One row of ``num_perm`` MinHash values per set: each element's CRC-32 ``h``, permuted by the multiply-shift hash
    ``(a*h + b) mod 2**64 >> 32`` (``a`` odd), the smallest value per set and permutation."""
    if not sets:
        return np.zeros((0, num_perm), dtype=np.uint64)
    sizes = np.fromiter((len(items) for items in sets), dtype=np.int64, count=len(sets))
    hashes = np.fromiter((zlib.crc32(item.encode()) for items in sets for item in items), dtype=np.uint64, count=int(sizes.sum()))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    generator = np.random.default_rng(seed)
    a = generator.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = generator.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    signatures = np.empty((len(sets), num_perm), dtype=np.uint64)
    shift = np.uint64(32)
    with np.errstate(over="ignore"):
        for column in range(num_perm):
            signatures[:, column] = np.minimum.reduceat((a[column] * hashes + b[column]) >> shift, starts)
    return signatures


def band_keys(signatures: np.ndarray, bands: int = BANDS) -> np.ndarray:
    """One 64-bit key per row and band: rows whose values agree on a whole band share its key."""
    rows = signatures.shape[1] // bands
    keys = np.zeros((signatures.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for position in range(rows):
            keys = keys * np.uint64(1099511628211) ^ signatures[:, position::rows]
    return keys


def _jaccard(first: set[str], second: set[str]) -> float:
    return len(first & second) / len(first | second)


def _example(row: DoctorRow, other: int, what: str) -> str:
    return excerpt(row.row, row.content, shown=None) + f" ({what} row {other})"


def _finding(kind: str, file: str, pairs: list[tuple[DoctorRow, int]], what: str, detail: str) -> Finding | None:
    if not pairs:
        return None
    return Finding(kind=kind, severity="fix", file=file, rows=[row.row for row, _ in pairs],
                   examples=[_example(row, other, what) for row, other in pairs[:3]], action=REMOVED, detail=detail)


def near_matches(kept: list[DoctorRow], queries: list[DoctorRow]) -> tuple[list[tuple[DoctorRow, int]], list[tuple[DoctorRow, int]]]:
    """Near-duplicates among ``kept`` (each later row against the earlier rows that stay) and ``queries`` rows near a
    row of ``kept`` that stays: ``(row, row number of its earlier twin)`` pairs."""
    shingled = [(row, items, row_is_query) for row_is_query, rows in ((False, kept), (True, queries))
                for row in rows if (items := shingles(row.content)) is not None]
    if not shingled:
        return [], []
    keys = band_keys(minhash_signatures([items for _, items, _ in shingled]))
    shared = np.zeros(len(shingled), dtype=bool)
    for band in range(keys.shape[1]):  # rows alone in every bucket (nearly all of them) are never looked at again
        _, inverse, counts = np.unique(keys[:, band], return_inverse=True, return_counts=True)
        shared |= counts[inverse] > 1
    buckets: dict[tuple[int, int], list[int]] = {}
    near: list[tuple[DoctorRow, int]] = []
    near_queries: list[tuple[DoctorRow, int]] = []
    for position in np.flatnonzero(shared).tolist():
        row, items, row_is_query = shingled[position]
        row_keys = [(band, int(key)) for band, key in enumerate(keys[position])]
        candidates = {other for key in row_keys for other in buckets.get(key, ())}
        match = next((shingled[other][0].row for other in sorted(candidates)  # another label: a conflict, not a copy
                      if shingled[other][0].label == row.label and _jaccard(items, shingled[other][1]) >= NEAR_THRESHOLD), None)
        if match is not None:
            (near_queries if row_is_query else near).append((row, match))
        elif not row_is_query:
            for key in row_keys:
                members = buckets.setdefault(key, [])
                if len(members) < MAX_PER_BUCKET:
                    members.append(position)
    return near, near_queries


def duplicate_findings(train: DataFile, validation: DataFile | None, progress: Progress | None = None) -> list[Finding]:
    """Exact, normalised and near-duplicates in ``train``, and validation rows that copy (or nearly copy) a training row."""
    exact: list[tuple[DoctorRow, int]] = []
    normalised: list[tuple[DoctorRow, int]] = []
    first_exact: dict[str, int] = {}
    first_key: dict[str, int] = {}
    kept: list[DoctorRow] = []
    for row in train.rows:
        if row.exact_key in first_exact:
            exact.append((row, first_exact[row.exact_key]))
        elif row.key in first_key:
            normalised.append((row, first_key[row.key]))
        else:
            kept.append(row)
        first_exact.setdefault(row.exact_key, row.row)
        first_key.setdefault(row.key, row.row)
    if progress:
        progress(0.2)

    validation_rows = []
    copies: list[tuple[DoctorRow, int]] = []
    if validation is not None:
        copies = [(row, first_key[row.key]) for row in validation.rows if row.key in first_key]
        copied = {row.row for row, _ in copies}
        validation_rows = [row for row in validation.rows if row.row not in copied]
    near, near_copies = near_matches(kept, validation_rows)
    if progress:
        progress(0.9)

    findings = [
        _finding("exact_duplicate", "train", exact, "same as", "rows identical to an earlier row"),
        _finding("normalised_duplicate", "train", normalised, "same as",
                 "rows equal to an earlier row once case, whitespace and punctuation are ignored"),
        _finding("near_duplicate", "train", near, "nearly the same as",
                 f"rows sharing at least {NEAR_THRESHOLD:.0%} of their word trigrams with an earlier row"),
    ]
    if validation is not None:
        findings += [
            _finding("validation_copy", "validation", copies, "copy of training",
                     "validation rows that are also training rows (case, whitespace and punctuation ignored): "
                     "the eval loss would measure memory"),
            _finding("near_duplicate", "validation", near_copies, "nearly the same as training",
                     f"validation rows sharing at least {NEAR_THRESHOLD:.0%} of their word trigrams with a training row"),
        ]
    if progress:
        progress(1.0)
    return [finding for finding in findings if finding is not None]
