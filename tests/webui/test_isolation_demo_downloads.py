"""A ``--demo`` server lets visitors watch and try finished jobs but hands out no weights (``/download_job``), unless its operator
starts it with ``--demo-downloads``."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.served_app import run_launch, served_app
from tests.webui.conftest import tiny_spec_yaml


def test_demo_visitors_get_weights_only_when_the_operator_allows_it(adapta_home: Path, tiny_llama: Path, qa_jsonl: Path,
                                                                    tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(tiny_spec_yaml(tiny_llama, qa_jsonl), encoding="utf-8")
    done = run_launch("train", str(spec), home=adapta_home)
    assert done.returncode == 0, done.stderr[-2000:]

    with served_app(["--demo"], home=adapta_home) as app:
        visitor = Client(app.url, verbose=False)
        [job] = visitor.predict(api_name="/list_jobs")
        assert job["status"] == "succeeded"
        with pytest.raises(AppError, match="this demo server does not hand out model weights"):
            visitor.predict(str(job["id"]), api_name="/download_job")

    with served_app(["--demo", "--demo-downloads"], home=adapta_home) as app:
        zipped = Client(app.url, verbose=False).predict(str(job["id"]), api_name="/download_job")
        assert Path(zipped).suffix == ".zip" and Path(zipped).stat().st_size > 0
