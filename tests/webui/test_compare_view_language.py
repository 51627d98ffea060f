"""Compare runs in the page's language: whether the reports scored the same held-out rows, and a sweep's one-line summary,
worded by the same functions in jobs/ that give the English (tables of words, no database needed)."""

from __future__ import annotations

from jobs.queue.compare import ROWS_NOTE_EN, Comparison, RunRow
from jobs.queue.sweep_ranking import SUMMARY_EN, GroupRanking, Score
from storage.tables import Job, JobStatus
from webui.i18n import string_table


def run(job_id: int, rows_key: str | None) -> RunRow:
    return RunRow(job_id, f"job-{job_id}", "succeeded", "", "", {}, metrics={"eval_loss": object()}, rows_key=rows_key)


def test_the_rows_note_in_portuguese() -> None:
    same = Comparison([run(1, "0123456789abcdef"), run(2, "0123456789abcdef")])
    assert same.rows_note(string_table("pt-BR", "compare.rows.", ROWS_NOTE_EN)) == (
        "Os 2 relatórios foram medidos nas mesmas linhas reservadas (impressão digital do split.json 0123456789).")
    other = Comparison([run(1, "0123456789abcdef"), run(2, None)])
    note = other.rows_note(string_table("pt-BR", "compare.rows.", ROWS_NOTE_EN))
    assert note.startswith("⚠️ Estes relatórios não foram todos medidos") and "#1: 0123456789, #2: não registrado" in note
    assert other.rows_note(string_table("en", "compare.rows.", ROWS_NOTE_EN)) == other.rows_note()  # English: the words of jobs/


def test_a_sweep_summary_in_portuguese() -> None:
    jobs = [Job(id=7, name="a", status=JobStatus.SUCCEEDED, spec_json="{}"), Job(id=8, name="b", status=JobStatus.FAILED, spec_json="{}")]
    ranking = GroupRanking("g1", "lr-sweep", jobs, {7: Score(0.5, "eval_loss", "eval loss", False, "x")}, "auto", 7, unranked=[9])
    assert ranking.summary(string_table("pt-BR", "sweep.", SUMMARY_EN)) == (
        "lr-sweep: 2 trabalhos (1 com falha, 1 com sucesso); melhor: #7 com eval loss 0.5 (menor é melhor); fora do ranking: #9 "
        "(medidos em outras linhas reservadas que o resto, ou linhas não registradas, então suas notas não são comparáveis)")
    assert ranking.summary().startswith("lr-sweep: 2 jobs (1 failed, 1 succeeded); best: #7 with eval loss 0.5 (lowest is best)")
