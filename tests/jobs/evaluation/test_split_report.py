"""The report scores the rows split.json recorded and nothing else: the issue's train_on_prompt case end to end on the tiny Llama,
a data file changed after training, and a report from before split.json."""

from __future__ import annotations

import json
from pathlib import Path

from jobs.data.split import SPLIT_FILE, normalise_text, read_split
from jobs.evaluation.registry import evaluate_run
from jobs.evaluation.report import EvalReport, read_report, report_markdown, write_report
from jobs.queue.run import execute_run
from jobs.spec import parse_spec
from tests.jobs.evaluation.test_eval_report import RecordingSink
from tests.jobs.trainers.test_train_text import make_spec, write_jsonl

ROWS = [{"question": f"What is {n} plus {n}?", "answer": f"{n} plus {n} is {2 * n}."} for n in range(24)]
LONG_PROMPT = {"question": "Please read all of this first. " * 12 + "What is 100 plus 100?", "answer": "200."}


class Finished:
    stopped_early = False


def test_with_train_on_prompt_and_a_row_cut_at_max_length_the_report_scores_no_trained_row(tmp_path: Path, tiny_llama: Path) -> None:
    rows = [LONG_PROMPT, *ROWS[:12], {"question": ROWS[3]["question"].lower(), "answer": ROWS[3]["answer"]}, *ROWS[12:]]
    raw = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=2, max_length=48, train_on_prompt=True)
    raw["data"] = {"train": str(write_jsonl(tmp_path / "train.jsonl", rows)), "validation": 0.25}
    raw["evaluation"] = {"max_new_tokens": 4}
    spec = parse_spec(raw)
    run = tmp_path / "run"
    execute_run(spec, run)

    split = read_split(run)
    assert split is not None and (run / SPLIT_FILE).is_file()
    report = read_report(run)
    assert report is not None and report.skipped is None, report
    scored = [example.row for example in report.examples]
    trained = set(split.trained_ids())
    assert scored and not trained & set(scored), sorted(trained & set(scored))
    assert set(scored) <= set(split.held)
    content = {row: normalise_text(json.dumps(rows[row - 1])) for row in range(1, len(rows) + 1)}
    assert not {content[row] for row in trained} & {content[row] for row in scored}  # the lower-cased duplicate is on one side
    assert f"recorded in {SPLIT_FILE}" in report.measured_on and report.split["file"] == SPLIT_FILE
    assert report.split["scored"] == scored and report.split["fingerprint"] == split.fingerprint

    (tmp_path / "train.jsonl").write_text((tmp_path / "train.jsonl").read_text().replace("plus", "and"), encoding="utf-8")
    changed = evaluate_run(spec, run, Finished(), RecordingSink())
    assert changed.skipped.startswith("the train data train.jsonl changed since training") and not changed.examples


def test_a_run_without_split_json_is_not_scored_and_an_old_report_says_split_not_recorded(tmp_path: Path) -> None:
    spec = parse_spec({"base_model": "acme/model", "data": {"train": str(write_jsonl(tmp_path / "train.jsonl", ROWS)), "validation": 0.25}})
    (tmp_path / "old-run").mkdir()
    report = evaluate_run(spec, tmp_path / "old-run", Finished(), RecordingSink())
    assert report.skipped.startswith("split not recorded: this run has no split.json")

    old = {"task": "causal-lm", "measured_on": "6 rows (10%) of train.jsonl held out", "metrics": [], "examples": []}
    (tmp_path / "old-run" / "eval_report.json").write_text(json.dumps(old), encoding="utf-8")
    loaded = read_report(tmp_path / "old-run")
    assert loaded is not None and loaded.split == {}
    assert "Split not recorded: this report is from before Adapta wrote split.json" in report_markdown(loaded)
    write_report(EvalReport(task="causal-lm", measured_on="x", split={"file": SPLIT_FILE}), tmp_path)
    assert "Split not recorded" not in report_markdown(read_report(tmp_path))
