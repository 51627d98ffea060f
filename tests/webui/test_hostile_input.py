"""Hostile input at the door of a real ``launch.py --auth`` server: each gets one sentence, nothing is stored, the server serves on.

The inputs are the ones a probe of the server found accepted or crashing (issue 17): a YAML alias multiplying a 1 MiB
string, a 10 MB ``data.train`` echoed whole, 3,000 levels of nesting (a ``RecursionError``), a job id too large for
SQLite (an ``OverflowError``), URLs, ``file:`` and ``..`` as Hub ids, ``/etc/passwd`` as a Hub dataset's validation split.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from jobs.errors import SpecError
from jobs.spec import parse_spec, parse_spec_yaml
from jobs.spec.limits import MAX_SPEC_BYTES, MAX_STRING_CHARS
from tests.served_app import served_app
from tests.webui.test_users import PASSWORDS, add_users

VALID = "base_model: acme/tiny\ndata: {train: 'hub:acme/planets'}\n"
ALIASED = "base_model: acme/tiny\ndata: {train: 'hub:acme/planets'}\nx: &big '" + "y" * (1 << 20) + "'\nlora: {target_modules: [" + ", ".join(
    ["*big"] * 50) + "]}\n"
HUGE_TRAIN = "base_model: acme/tiny\ndata: {train: '" + "z" * 10_000_000 + "'}\n"
SMALL_ALIASED = "base_model: acme/tiny\ndata: {train: 'hub:acme/planets'}\nx: &big '" + "y" * 50_000 + "'\nlora: {target_modules: [" + ", ".join(
    ["*big"] * 100) + "]}\n"
DEEP = "base_model: acme/tiny\ndata: {train: 'hub:acme/planets'}\nname: " + "[" * 3000 + "]" * 3000 + "\n"
ID_CASES = {
    "base_model: http://127.0.0.1:7999/x": "not a URL",
    "base_model: file:///etc/passwd": "not a URL",
    "base_model: org/../../../etc": "nor a valid Hub id",
}


def refusal(client: Client, *args: object, api_name: str) -> str:
    started = time.perf_counter()
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    assert time.perf_counter() - started < 20
    message = str(caught.value)
    assert "upstream app has raised an exception" not in message
    return message


def test_limits_refuse_each_hostile_spec_in_one_sentence() -> None:
    cases = {ALIASED: f"a job spec may be at most {MAX_SPEC_BYTES:,} bytes", SMALL_ALIASED: "uses a YAML alias at line 4",
             HUGE_TRAIN: f"a job spec may be at most {MAX_SPEC_BYTES:,} bytes", DEEP: "nests deeper than"}
    for text, expected in cases.items():
        with pytest.raises(SpecError, match=expected) as caught:
            parse_spec_yaml(text)
        assert len(str(caught.value)) < 300
    with pytest.raises(SpecError, match="uses a YAML alias at line 3"):
        parse_spec_yaml("base_model: &m acme/tiny\ndata: {train: x.csv}\nname: *m\n")
    with pytest.raises(SpecError, match=rf"data.train is 5,000 characters long; the limit is {MAX_STRING_CHARS:,} \(it starts 'aaaa"):
        parse_spec({"base_model": "acme/tiny", "data": {"train": "a" * 5000}})
    with pytest.raises(SpecError, match="lora.target_modules has 300 items; the limit is 256"):
        parse_spec({"base_model": "acme/tiny", "data": {"train": "x.csv"}, "lora": {"target_modules": ["q"] * 300}})
    with pytest.raises(SpecError, match="data.validation of a Hub dataset names one of its splits"):
        parse_spec({"base_model": "acme/tiny", "data": {"train": "hub:acme/planets", "validation": "/etc/passwd"}})
    for line, expected in ID_CASES.items():
        with pytest.raises(SpecError, match=expected):
            parse_spec_yaml(f"{line}\ndata: {{train: x.csv}}\n")


@pytest.mark.timeout(300)
def test_a_signed_in_caller_gets_one_sentence_for_each_and_nothing_is_stored(tmp_path: Path, qa_jsonl: Path) -> None:
    home = tmp_path / "served-home"
    add_users(home)
    with served_app(["--auth", "--no-worker"], home=home, env={"HF_HUB_OFFLINE": "1"}) as app:
        alice = Client(app.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
        database = home / "adapta.db"
        before = sum(path.stat().st_size for path in home.glob("adapta.db*"))
        assert f"at most {MAX_SPEC_BYTES:,} bytes" in refusal(alice, ALIASED, api_name="/submit_job")
        assert "aliases (&name / *name) are not allowed" in refusal(alice, SMALL_ALIASED, api_name="/submit_job")
        huge = refusal(alice, HUGE_TRAIN, api_name="/submit_job")
        assert f"at most {MAX_SPEC_BYTES:,} bytes" in huge and len(huge) < 400  # the 10 MB value is not echoed back
        assert "nests deeper than 12 levels" in refusal(alice, DEEP, api_name="/submit_job")
        for line, expected in ID_CASES.items():
            assert expected in refusal(alice, f"{line}\ndata: {{train: 'hub:acme/planets'}}\n", api_name="/submit_job")
        assert "names one of its splits" in refusal(alice, VALID.replace("'hub:acme/planets'", "'hub:acme/planets', validation: /etc/passwd"),
                                                    api_name="/submit_job")
        assert "there is no job 99999999999999999999" in refusal(alice, 99999999999999999999, api_name="/job_status")
        assert alice.predict(api_name="/list_jobs") == []  # the server still answers, and nothing was queued
        after = sum(path.stat().st_size for path in home.glob("adapta.db*"))
        # Paths as a shared server shows them: relative to its data home, and they work as input again.
        stored = alice.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
        assert stored.startswith("uploads/") and str(home) not in stored
        assert [row["stored_path"] for row in alice.predict(api_name="/list_datasets")] == [stored]
        # (a model this offline server has: /submit_job runs the Train tab's pre-flight, which refuses a Hub model it cannot reach)
        job_id = alice.predict(f"base_model: HuggingFaceTB/SmolLM2-135M-Instruct\ndata: {{train: {stored}}}\n", api_name="/submit_job")
        [job] = alice.predict(api_name="/list_jobs")
        assert job["id"] == job_id and job["run_dir"] == f"runs/{job_id}"
        missing = refusal(alice, "base_model: acme/tiny\ndata: {train: uploads/elsewhere.jsonl}\n", api_name="/submit_job")
        assert str(home) not in missing
    assert database.exists() and after - before < 1_000_000
