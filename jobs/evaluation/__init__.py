"""The before/after evaluation: the base model and the adapted model scored on the same held-out rows.

- :mod:`jobs.evaluation.report`: the :class:`EvalReport` (metrics, scored examples, what it was measured on), stored as
  ``runs/<job>/eval_report.json`` and read back with :func:`read_report`; re-exported here: ``EvalReport``,
  ``read_report``, ``report_markdown``, ``write_report``.
- :mod:`jobs.evaluation.registry`: ``evaluate_run(spec, run_dir, outcome, sink)``, the evaluation step at the end of every
  job (imports every evaluator, so torch; only the training process imports it).
- One evaluator per task: :mod:`jobs.evaluation.text` (causal LM, classification), :mod:`jobs.evaluation.preference`
  (dpo, orpo, kto, grpo), :mod:`jobs.evaluation.retrieval` (sentence-embedding), :mod:`jobs.evaluation.images`
  (text-to-image); :mod:`jobs.evaluation.reward_preview` scores the base model's answers with the GRPO reward terms
  before a job is submitted.

    report = read_report(run_dir)
    print(report_markdown(report))
"""

from jobs.evaluation.report import EvalReport, read_report, report_markdown, write_report

__all__ = ["EvalReport", "read_report", "report_markdown", "write_report"]
