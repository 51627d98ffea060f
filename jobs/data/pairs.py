"""Embedding data (task sentence-embedding): training rows, the held-out retrieval set, and mined hard negatives.

Rows are read with the same formats, mappings and row-numbered problems as every other task
(:mod:`jobs.data.formats`, :func:`jobs.data.rows.row_fields`): pairs ``(anchor, positive)``, triplets
``(anchor, positive, negative)`` or scored pairs ``(sentence1, sentence2, score)``. Several rows with one query
are several relevant passages of that query (relevance labels, as in a qrels file); ``embedding.corpus`` adds
passages that are relevant to no query (distractors).

Held-out queries follow :func:`jobs.data.split.decide_split`: ``data.validation`` (a share or a file), else
``evaluation.holdout`` of the queries when at least 50 rows are usable, picked by ``data.split_seed``. The split is by
query (case, whitespace and punctuation ignored), so no row of a held-out query is ever trained on, and a validation
file's rows whose query training also asks are removed from scoring. The report searches the whole corpus: every passage of the data (training and
held-out) plus the extra corpus.

    data = load_embedding_data(spec)
    data.train[0]            # {"anchor": ..., "positive": ...}
    data.retrieval_set()     # queries, corpus and relevant passages for InformationRetrievalEvaluator
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.data.formats import FormatChoice, available_columns, find_column, resolve_format
from jobs.data.hub_datasets import resolve_data_files
from jobs.data.readers import read_table
from jobs.data.rows import Problem, RowError, UsableRows, row_fields, usable_rows
from jobs.data.split import RecordedSplit, data_files, decide_split, normalise_text
from jobs.errors import DataError
from jobs.spec import DataFormat, EmbeddingLoss, JobSpec, Task

RELEVANT_SCORE = 0.5
"""Scored pairs: a pair scored at least this counts as (query, relevant passage) in the retrieval report."""
TEXT_ROLES = ("anchor", "positive", "negative", "sentence1", "sentence2")


@dataclass
class RetrievalSet:
    """Held-out queries, the corpus they are searched in, and which passages answer each query (ids are strings)."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    rows: dict[str, int] = field(default_factory=dict)
    """Query id -> the row number of its first held-out row."""


@dataclass
class EmbeddingData:
    """What the embedding trainer and the retrieval report read from ``spec.data``."""

    train: list[dict[str, Any]]
    """Training rows: anchor/positive[/negative] or sentence1/sentence2/score, in file order."""
    held_out: list[dict[str, Any]]
    """Rows of the held-out queries (never trained on)."""
    held_rows: list[int]
    """The row number of each held-out row."""
    choice: FormatChoice
    extra_passages: list[str] = field(default_factory=list)
    """Passages from ``embedding.corpus``."""
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    eval_source: str = ""
    """Where the held-out queries come from, as a sentence fragment."""
    split: RecordedSplit | None = None
    """The split (what ``runs/<job>/split.json`` records)."""

    def passages(self) -> list[str]:
        """Every distinct passage, in first-seen order: the data's positives, negatives and second sentences, then the extra corpus."""
        texts = [row.get(role) for row in self.train + self.held_out for role in ("positive", "negative", "sentence2")]
        return list(dict.fromkeys(text for text in [*texts, *self.extra_passages] if text))

    def retrieval_set(self) -> RetrievalSet:
        """The held-out queries with their relevant passages, searched in :meth:`passages`."""
        corpus = {f"d{number}": text for number, text in enumerate(self.passages())}
        ids = {text: cid for cid, text in corpus.items()}
        queries: dict[str, str] = {}
        relevant: dict[str, set[str]] = {}
        rows: dict[str, int] = {}
        by_text: dict[str, str] = {}
        for record, row in zip(self.held_out, self.held_rows, strict=True):
            query, passage = query_and_passage(record)
            if passage is None:
                continue
            qid = by_text.setdefault(query, f"q{len(by_text)}")
            queries[qid] = query
            rows.setdefault(qid, row)
            relevant.setdefault(qid, set()).add(ids[passage])
        return RetrievalSet(queries=queries, corpus=corpus, relevant=relevant, rows=rows)


def query_and_passage(record: dict[str, Any]) -> tuple[str, str | None]:
    """A row as (query, relevant passage); a scored pair below :data:`RELEVANT_SCORE` has no relevant passage."""
    if "sentence1" in record:
        return record["sentence1"], record["sentence2"] if record["score"] >= RELEVANT_SCORE else None
    return record["anchor"], record["positive"]


def _query_group(fields: dict[str, Any]) -> str:
    return normalise_text(query_and_passage(fields)[0])


def load_embedding_data(spec: JobSpec, recorded: RecordedSplit | None = None) -> EmbeddingData:
    """Read ``spec.data`` (and ``embedding.corpus``) into training rows and held-out queries, split by
    :func:`jobs.data.split.decide_split` (or as the ``recorded`` split of a finished run says); raises :class:`DataError`."""
    train_file, validation = resolve_data_files(spec)
    table = read_table(train_file)
    choice = resolve_format(table.records, spec.data.format, spec.data.columns, Task.SENTENCE_EMBEDDING, source=table.name)
    _check_loss_fits(spec, choice)
    rows = usable_rows(table.records, table.row_numbers, choice, group=_query_group)
    if not rows.candidates:
        reasons = "; ".join(str(problem) for problem in rows.problems[:3])
        raise DataError(f"no usable rows in {table.name}: {reasons}.")
    held_rows: UsableRows = rows
    skipped = list(rows.problems)
    if isinstance(validation, str):
        held_table = read_table(Path(validation))
        resolve_format(held_table.records, choice.format, choice.mapping, Task.SENTENCE_EMBEDDING, source=held_table.name)
        held_rows = usable_rows(held_table.records, held_table.row_numbers, choice, file="validation", source=held_table.name,
                                group=_query_group)
        skipped += held_rows.problems
    split = recorded or decide_split(rows.candidates, validation=validation, evaluation=spec.evaluation, seed=spec.data.split_seed,
                                     files=data_files(train_file, validation),
                                     held_items=held_rows.candidates if held_rows is not rows else (),
                                     unusable=rows.unusable + (held_rows.unusable if held_rows is not rows else []), groups="distinct queries")
    held_ids = [int(row) for row in split.scoring_ids()]
    data = EmbeddingData(train=[rows.fields[int(row)] for row in split.train], held_out=[held_rows.fields[row] for row in held_ids],
                         held_rows=held_ids, choice=choice, skipped=skipped, split=split)
    if split.held_file == "validation":
        data.eval_source = f"{len(data.held_out)} rows of the validation file {Path(validation).name}"
        if split.overlap_sentence():
            data.warnings.append(f"{split.overlap_sentence()}: their query is also a training query ({Path(validation).name})")
    elif split.share is not None:
        _describe_held_queries(data, split, table.name)
    if spec.embedding.corpus:
        data.extra_passages = read_corpus(Path(spec.embedding.corpus))
    return data


def _check_loss_fits(spec: JobSpec, choice: FormatChoice) -> None:
    scored = choice.format is DataFormat.SCORED_PAIRS
    if scored != (spec.embedding.loss is EmbeddingLoss.COSENT):
        wanted = "cosent" if scored else "mnrl or cached-mnrl"
        raise DataError(f"the data was read as {choice.describe()}, which embedding.loss {spec.embedding.loss.value} cannot learn from; "
                        f"set embedding.loss to {wanted}, or set data.format to the format you meant.")
    if spec.embedding.mine_hard_negatives and choice.format is not DataFormat.PAIRS:
        raise DataError(f"embedding.mine_hard_negatives needs (anchor, positive) pairs, but the data was read as {choice.describe()}; "
                        "turn mining off or give pairs.")


def _describe_held_queries(data: EmbeddingData, split: RecordedSplit, name: str) -> None:
    """Say where the held-out queries of a share come from (or why there are none)."""
    share = split.share
    if not data.held_out:
        data.warnings.append(f"{name} has too few distinct queries to hold out {share:.0%} for the report; training on all of them")
        return
    queries = {query_and_passage(record)[0] for record in data.held_out}
    data.eval_source = f"{len(queries)} queries ({len(data.held_out)} rows, {share:.0%} of the queries) of {name} held out"
    if split.automatic:
        data.eval_source += " automatically and not trained on (set data.validation to choose them)"
        data.warnings.append(f"{data.eval_source} for the before/after report")
    else:
        data.eval_source += " by data.validation"


def read_corpus(path: Path) -> list[str]:
    """The passages of a corpus file: its text/passage column (or its only column), blank entries dropped."""
    table = read_table(path)
    columns = available_columns(table.records)
    column = find_column("text", columns) or find_column("positive", columns) or (columns[0] if len(columns) == 1 else None)
    if column is None:
        raise DataError(f"embedding.corpus {table.name} has no text or passage column (columns: {', '.join(columns)}); "
                        "rename the passage column to text.")
    return list(dict.fromkeys(str(record[column]).strip() for record in table.records
                              if record.get(column) is not None and str(record[column]).strip()))


def text_token_lengths(records: Iterable[dict[str, Any]], choice: FormatChoice, tokenizer: Any) -> list[int]:
    """Token counts of every text of the usable rows (queries and passages alike): the Data tab's length histogram."""
    texts: list[str] = []
    for record in records:
        try:
            fields = row_fields(record, choice)
        except RowError:
            continue
        texts += [fields[role] for role in TEXT_ROLES if fields.get(role)]
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]


def mine_negatives(rows: list[dict[str, Any]], model: Any, *, extra_passages: list[str], num_negatives: int, margin: float,
                   batch_size: int = 64) -> tuple[list[dict[str, Any]], str]:
    """(anchor, positive) pairs -> (anchor, positive, negative) triplets with hard negatives mined by ``model``.

    sentence-transformers' ``mine_hard_negatives`` searches the training passages (and the extra corpus) and keeps a
    candidate only when it scores at least ``margin`` below the positive, so near-duplicates of the positive are not taken
    as negatives; a candidate that is a relevant passage of the same query (several rows with one query) is dropped too.
    Returns the triplets and a sentence for the run's warnings."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    corpus = list(dict.fromkeys([row["positive"] for row in rows] + extra_passages))
    if len(corpus) < 2:
        raise DataError("embedding.mine_hard_negatives needs at least two different passages to mine from; add rows or turn it off.")
    mined = mine_hard_negatives(
        Dataset.from_list([{"anchor": row["anchor"], "positive": row["positive"]} for row in rows]), model,
        anchor_column_name="anchor", positive_column_name="positive", corpus=corpus, range_max=min(len(corpus), 50 + num_negatives),
        absolute_margin=margin, num_negatives=num_negatives, sampling_strategy="top", output_format="triplet",
        batch_size=batch_size, verbose=False,
    )
    positives: dict[str, set[str]] = {}
    for row in rows:
        positives.setdefault(row["anchor"], set()).add(" ".join(row["positive"].split()))
    triplets = [dict(row) for row in mined if " ".join(row["negative"].split()) not in positives[row["anchor"]]]
    with_negative = len({(row["anchor"], row["positive"]) for row in triplets})
    note = f"mined {len(triplets)} hard negatives for {with_negative} of {len(rows)} pairs (margin {margin:g})"
    if with_negative < len(rows):
        note += f"; {len(rows) - with_negative} pairs had no candidate far enough below their positive and are left out"
    if not triplets:
        raise DataError(f"hard-negative mining found no negative at least {margin:g} below any positive; lower embedding.negative_margin "
                        "or turn mining off.")
    return triplets, note
