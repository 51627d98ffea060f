"""Hub datasets (``data.train: hub:OWNER/NAME``) streamed from the loopback fake Hub by the real ``datasets`` library.

The Hub endpoint is fixed when huggingface_hub is imported, so these tests run Adapta as real subprocesses
(``launch.py inspect``, ``launch.py train``, the app for ``/inspect_hub_dataset``) with ``HF_ENDPOINT`` set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.fake_hub import FakeHub
from tests.served_app import run_launch, served_app

PLANETS = [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "golden"), ("Vey", "silver")]


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


DATASETS = {
    "acme/planets": {
        "README.md": b"---\nlicense: cc-by-4.0\n---\n# Planets\n",
        "data/train.jsonl": jsonl([{"question": f"What colour is planet {name}?", "answer": f"Planet {name} is {colour}."} for name, colour in PLANETS * 5]),
        "data/test.jsonl": jsonl([{"question": "What colour is planet Xel?", "answer": "Planet Xel is jade."}]),  # no training row
    },
    "acme/reviews": {
        "README.md": (b"---\nconfigs:\n- config_name: short\n  data_files:\n  - split: train\n    path: short/train.jsonl\n"
                      b"- config_name: long\n  data_files:\n  - split: train\n    path: long/train.jsonl\n---\n"),
        "short/train.jsonl": jsonl([{"review": "great", "label": "good"}, {"review": "awful", "label": "bad"}] * 3),
        "long/train.jsonl": jsonl([{"review": "a really great product, would buy again", "label": "good"},
                                   {"review": "broke after a day, do not buy", "label": "bad"}] * 4),
    },
}


@pytest.fixture
def hub_env(tmp_path: Path) -> dict[str, str]:
    return {"HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home")}


def test_inspect_streams_the_first_rows_with_the_same_report_as_an_upload(adapta_home: Path, hub_env: dict[str, str]) -> None:
    with FakeHub(datasets=DATASETS) as hub:
        env = {**hub_env, "HF_ENDPOINT": hub.url}
        done = run_launch("inspect", "hub:acme/planets", home=adapta_home, env=env)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["format"] == "instruction" and report["mapping"] == {"prompt": "question", "response": "answer"}
        assert report["rows"] == 30 and report["preview"][0]["answer"] == "Planet Zor is teal."
        assert any("/datasets/acme/planets/resolve/" in path for _, path, _, _ in hub.requests)

        sliced = json.loads(run_launch("inspect", "hub:acme/planets", "--split", "train[6:18]", home=adapta_home, env=env).stdout)
        assert sliced["rows"] == 12 and sliced["preview"][0]["question"] == "What colour is planet Zor?"  # row 6 starts the second round

        short = json.loads(run_launch("inspect", "hub:acme/reviews", "--config", "long", "--task", "text-classification", home=adapta_home,
                                      env=env).stdout)
        assert short["format"] == "classification" and short["rows"] == 8 and short["label_counts"] == {"good": 4, "bad": 4}

        for args, message in ((["hub:acme/nothing"], "hub:acme/nothing was not found on the Hub"),
                              (["hub:acme/planets", "--split", "validation"], "data.split 'validation'"),
                              (["hub:acme/planets", "--split", "train[:10%]"], "percent slices are not supported"),
                              (["hub:acme/reviews", "--config", "medium"], "data.config 'medium'"),
                              (["hub:../etc"], "not a Hub dataset id")):
            failed = run_launch("inspect", *args, home=adapta_home, env=env)
            assert failed.returncode == 2 and message in failed.stderr and "Traceback" not in failed.stderr, failed.stderr


def test_offline_mode_names_the_dataset_and_the_fix(adapta_home: Path) -> None:
    from jobs.data.hub_datasets import hub_dataset_file
    from jobs.errors import DataError

    with pytest.raises(DataError, match="hub:acme/planets is on the Hugging Face Hub and offline mode is on"):
        hub_dataset_file("hub:acme/planets")


def test_a_job_trains_on_a_hub_dataset_and_its_card_names_it(adapta_home: Path, hub_env: dict[str, str], tiny_llama: Path, tmp_path: Path) -> None:
    spec = tmp_path / "hub.yaml"
    spec.write_text(f"name: hub-planets\nbase_model: {tiny_llama}\ndata: {{train: 'hub:acme/planets', split: train, validation: test}}\n"
                    "training: {max_steps: 4, batch_size: 4, learning_rate: 0.02, max_length: 64}\n")
    with FakeHub(datasets=DATASETS) as hub:
        done = run_launch("train", str(spec), home=adapta_home, env={**hub_env, "HF_ENDPOINT": hub.url})
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = next((adapta_home / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["data"]["hub_dataset"] == "acme/planets" and summary["train_examples"] == 30 and summary["eval_examples"] == 1
    split = json.loads((run_dir / "split.json").read_text())  # the local copies of both splits, with their sha256
    assert [(item["role"], Path(item["path"]).name) for item in split["files"]] == [("train", "default-train.jsonl"), ("validation", "default-test.jsonl")]
    assert split["held"] == [1] and split["held_file"] == "validation" and len(split["train"]) == 30
    card = (run_dir / "adapter" / "README.md").read_text()
    front = card.split("---")[1]
    assert "datasets:\n- acme/planets" in front and "[acme/planets](https://huggingface.co/datasets/acme/planets)" in card
    copied = adapta_home / "uploads" / "hub" / "public" / "acme--planets" / "default-train.jsonl"  # read without a token
    assert len(copied.read_text().splitlines()) == 30


def test_the_api_previews_a_hub_dataset_and_explains_a_missing_one(adapta_home: Path, hub_env: dict[str, str]) -> None:
    with FakeHub(datasets=DATASETS) as hub, served_app(["--no-worker"], home=adapta_home, env={**hub_env, "HF_ENDPOINT": hub.url}) as app:
        client = Client(app.url, verbose=False)
        report = client.predict("acme/reviews", "short", "train", "auto", "text-classification", api_name="/inspect_hub_dataset")
        assert report["dataset"] == "hub:acme/reviews" and report["config"] == "short" and report["rows"] == 6
        assert report["mapping"] == {"text": "review", "label": "label"}
        with pytest.raises(AppError, match="hub:acme/gone was not found"):
            client.predict("hub:acme/gone", "", "train", "auto", "causal-lm", api_name="/inspect_hub_dataset")
