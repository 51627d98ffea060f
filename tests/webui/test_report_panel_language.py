"""The report panel's data line, metric names and table headers in the page's language, worded from the numbers in ``data_check.json`` (the model card and
``summary.json`` keep the English line); and the Playground's image placement sentence, worded the same way."""

from __future__ import annotations

import pytest

from jobs.data.doctor import Finding
from jobs.data.doctor_notes import HUB_DATASET_NOT_CHECKED, data_check_line
from jobs.evaluation.report import EvalReport, MetricRow
from jobs.inference.images import PLACEMENT_EN, choose_placement
from webui.i18n import string_table, t
from webui.jobs_tab import job_detail
from webui.report_panel import data_line, headline_text, metrics_frame


def finding(kind: str, rows: list[int], action: str) -> dict:
    return Finding(kind=kind, severity="fix", file="train", rows=rows, action=action).to_dict()


FIXED = {"check": {"train_rows": 1204, "findings": [finding("near_duplicate", [3, 9], "nothing: shown only")]},
         "fixed": {"removed": 37, "masked": 4, "summary": "",
                   "before": {"train_rows": 1241, "findings": [finding("exact_duplicate", list(range(1, 38)), "removed (the first copy is kept)"),
                                                               finding("email", [3, 5, 8, 9], "masked as <EMAIL>")]}}}


def test_a_portuguese_panel_words_the_data_line_in_portuguese_from_the_record() -> None:
    report = EvalReport(task="causal-lm", skipped="no held-out rows", data_check=data_check_line(FIXED))
    portuguese = headline_text(report, "pt-BR", FIXED)
    assert ("Dados: treinado com 1.204 linhas; antes do treino, o Corrigir da aba Dados removeu 37 duplicatas e mascarou 4 endereços "
            "de e-mail; ainda nos dados: 2 quase duplicatas.") in portuguese
    assert "trained on" not in portuguese
    assert ("Data: trained on 1,204 rows; before training 37 duplicates were removed and 4 e-mail addresses masked (the Data tab's Fix); "
            "left in: 2 near-duplicates.") in headline_text(report, "en", FIXED)  # the same words as the model card's line
    assert "trained on 1,204 rows" in headline_text(report, "pt-BR", None)  # no record to read: the report's English line


def test_the_other_shapes_of_the_line_in_portuguese() -> None:
    assert data_line({"check": {"train_rows": 1, "format": "images", "findings": []}}, "pt-BR") == (
        "treinado com 1 imagem; a verificação dos dados não encontrou problemas")
    one = {"check": {"train_rows": 2, "findings": []}, "fixed": {"before": {"findings": [finding("secret", [2], "removed")]}}}
    assert data_line(one, "pt-BR") == "treinado com 2 linhas; antes do treino, o Corrigir da aba Dados removeu 1 segredo"
    assert data_line(one, "en") == "trained on 2 rows; before training 1 secret was removed (the Data tab's Fix)"
    assert data_line({"skipped": HUB_DATASET_NOT_CHECKED}, "pt-BR").startswith("os dados não foram verificados: são um dataset do Hub")
    assert data_line(None, "pt-BR") == ""


def test_the_playground_says_where_an_image_pipeline_runs_in_portuguese() -> None:
    placement = choose_placement("flux", {"transformer": 11_901_408_320, "vae": 83_819_683}, cuda=True, bf16_supported=True,
                                 free_bytes=20 * 1000**3, resolution=1024)
    portuguese = placement.reason_in(string_table("pt-BR", "placement.", PLACEMENT_EN))
    assert portuguese.startswith("o pipeline precisa de cerca de") and "menos que só o seu transformer (23.8 GB)" in portuguese
    assert placement.reason_in(string_table("en", "placement.", PLACEMENT_EN)) == placement.reason  # English: the same words as jobs/


def test_the_metric_table_and_the_main_metric_are_named_in_the_pages_language() -> None:
    report = EvalReport(task="causal-lm", measured_on="6 held-out rows", metrics=[
        MetricRow("answer_loss", "Answer loss", 2.0, 1.0, higher_is_better=False),
        MetricRow("exact_match", "Exact match", 0.0, 0.5, higher_is_better=True),
        MetricRow("reward/format", "Mean format score (weight 1)", 0.1, 0.9, higher_is_better=True)])
    portuguese = metrics_frame(report, "pt-BR")
    assert list(portuguese.columns) == ["métrica", "antes", "depois", "mudança"]
    assert portuguese["métrica"].tolist() == ["Perda na resposta", "Correspondência exata", "Mean format score (weight 1)"]  # a term: as written
    english = metrics_frame(report, "en")
    assert english["metric"].tolist() == ["Answer loss", "Exact match", "Mean format score (weight 1)"]
    assert english.iloc[:, 1:].values.tolist() == portuguese.iloc[:, 1:].values.tolist()  # the same numbers
    assert "(Perda na resposta)" in headline_text(report, "pt-BR") and "(Answer loss)" in headline_text(report, "en")


def test_every_metric_an_evaluator_names_has_a_label_in_both_languages() -> None:
    from jobs.evaluation.retrieval import METRICS

    names = [name for name, _ in METRICS] + ["answer_loss", "perplexity", "exact_match", "rouge_l", "chrf", "accuracy", "macro_f1",
                                             "preference_accuracy", "preference_margin", "preference_accuracy_per_token",
                                             "feedback_margin", "reward", "val_loss"]
    for name in names:
        assert t("pt-BR", f"metric.{name}") != f"metric.{name}" and t("en", f"metric.{name}") != f"metric.{name}", name


def test_a_running_evaluation_reads_in_portuguese(monkeypatch: pytest.MonkeyPatch) -> None:
    status = {"id": 3, "name": "planets", "status": "running", "step": 48, "total_steps": 48, "attempt": 1, "max_attempts": 3,
              "download": None, "phase": "evaluating", "phase_text": "evaluating …", "phase_done": 12, "phase_total": 48,
              "eta_seconds": None, "loss": None, "remote_url": None, "error": None, "progress": 1.0, "log_tail": ""}
    monkeypatch.setattr("webui.jobs_tab.job_status_action", lambda job_id, caller: status)
    monkeypatch.setattr("webui.jobs_tab.group_of", lambda job, owner: None)
    monkeypatch.setattr("webui.jobs_tab.plot_updates", lambda job: [None, None])
    detail = job_detail("3", "pt-BR", None)[1]
    assert "📊 Avaliando o modelo base e o adaptado nas linhas reservadas: 12 de 48 medidas (25%)" in detail
