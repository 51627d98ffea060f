"""Before/after evaluation of sentence-embedding jobs: retrieval quality of held-out queries against the whole corpus.

The held-out queries are those training recorded in ``runs/<job>/split.json`` (the validation file, the
``data.validation`` share, or the automatic hold-out; :mod:`jobs.data.split`), never trained on; the corpus is every passage of the data plus
``embedding.corpus``. sentence-transformers' ``InformationRetrievalEvaluator`` scores the base and the adapted model
(loaded as the Playground loads them, :mod:`jobs.inference.embedding_search`): NDCG@10, MRR@10, Recall@1 and Recall@10. Each
query becomes an :class:`ExampleScore` whose score is its reciprocal rank (1 / rank of the first relevant passage in the
top 10, else 0) and whose outputs are each model's top hit. At most ``evaluation.max_rows`` queries are scored.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from jobs.data.pairs import RetrievalSet, load_embedding_data, query_and_passage
from jobs.data.split import AUTO_HOLDOUT_MIN_ROWS, measured_on_text, scored_summary, split_for_report
from jobs.evaluation.report import EvalReport, ExampleScore, MetricRow, change_of
from jobs.inference.embedding_search import model_for, open_embedding_run
from jobs.spec import JobSpec

METRICS = (("ndcg@10", "NDCG@10"), ("mrr@10", "MRR@10"), ("recall@1", "Recall@1"), ("recall@10", "Recall@10"))
TOP_K = 10
NO_QUERIES = ("there are no held-out queries: {rows} usable rows are fewer than the {minimum} needed to hold some out automatically. "
              "Give data.validation (a file, or a share such as 0.2) to get a before/after report.")


def _capped(retrieval: RetrievalSet, cap: int) -> RetrievalSet:
    kept = list(retrieval.queries)[:cap]
    return RetrievalSet(queries={qid: retrieval.queries[qid] for qid in kept}, corpus=retrieval.corpus,
                        relevant={qid: retrieval.relevant[qid] for qid in kept}, rows={qid: retrieval.rows[qid] for qid in kept if qid in retrieval.rows})


def score_model(model: Any, retrieval: RetrievalSet, batch_size: int) -> tuple[dict[str, float], dict[str, list[dict[str, Any]]]]:
    """(metrics by name, top-10 hits per query id) of ``model`` from sentence-transformers' InformationRetrievalEvaluator."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    evaluator = InformationRetrievalEvaluator(
        retrieval.queries, retrieval.corpus, retrieval.relevant, mrr_at_k=[TOP_K], ndcg_at_k=[TOP_K], accuracy_at_k=[1, TOP_K],
        precision_recall_at_k=[1, TOP_K], map_at_k=[TOP_K], batch_size=batch_size, name="heldout", write_csv=False,
        write_predictions=True, show_progress_bar=False,
    )
    with tempfile.TemporaryDirectory() as folder:
        results = evaluator(model, output_path=folder)
        prefix = f"heldout_{model.similarity_fn_name}_"
        predictions = next(Path(folder).glob("*_predictions_*.jsonl"))
        hits = {line["query_id"]: line["results"] for line in map(json.loads, predictions.read_text(encoding="utf-8").splitlines())}
    return {name: float(results[prefix + name]) for name, _ in METRICS}, hits


def reciprocal_rank(hits: list[dict[str, Any]], relevant: set[str]) -> float:
    """1 / the rank of the first relevant passage among ``hits`` (best first), 0 when none is there."""
    return next((1.0 / rank for rank, hit in enumerate(hits, start=1) if hit["corpus_id"] in relevant), 0.0)


def evaluate_retrieval_job(spec: JobSpec, run_dir: Path, outcome: Any, sink: Any) -> EvalReport:
    """Score the base and the adapted model of a finished sentence-embedding job on its held-out queries."""
    started = time.perf_counter()
    split = split_for_report(run_dir)
    data = load_embedding_data(spec, recorded=split)
    retrieval = data.retrieval_set()
    if not retrieval.queries:
        return EvalReport(task=spec.task.value, skipped=NO_QUERIES.format(rows=len(data.train), minimum=AUTO_HOLDOUT_MIN_ROWS))
    cap = spec.evaluation.max_rows
    total = len(retrieval.queries)
    retrieval = _capped(retrieval, cap)
    run = open_embedding_run(run_dir)
    scored = {}
    for adapted in (False, True):
        with model_for(run, adapted) as model:
            scored[adapted] = score_model(model, retrieval, spec.evaluation.batch_size)
    (base_metrics, base_hits), (adapted_metrics, adapted_hits) = scored[False], scored[True]
    capped = f", the first {cap} of {total} (evaluation.max_rows)" if total > cap else ""
    kept = set(retrieval.queries.values())
    query_rows = [row for record, row in zip(data.held_out, data.held_rows, strict=True) if query_and_passage(record)[0] in kept]
    report = EvalReport(
        task=spec.task.value,
        measured_on=f"{len(retrieval.queries)} held-out queries{capped}, each searched among all {len(retrieval.corpus)} passages of the "
                    f"corpus; their rows: {measured_on_text(split, query_rows)}",
        split=scored_summary(split, query_rows),
        main_metric="ndcg@10",
        metrics=[MetricRow(name, label, base_metrics[name], adapted_metrics[name], True) for name, label in METRICS],
        score_name="reciprocal rank of the first relevant passage in the top 10",
    )
    for qid, query in retrieval.queries.items():
        relevant = retrieval.relevant[qid]
        before, after = reciprocal_rank(base_hits[qid], relevant), reciprocal_rank(adapted_hits[qid], relevant)
        report.examples.append(ExampleScore(
            row=retrieval.rows.get(qid), input=query, reference=retrieval.corpus[sorted(relevant)[0]],
            base_output=_top(base_hits[qid], retrieval), adapted_output=_top(adapted_hits[qid], retrieval),
            base_score=before, adapted_score=after, change=change_of(before, after),
        ))
    recall = report.metric("recall@10")
    report.notes.append(f"Recall@10 went from {recall.base:.0%} to {recall.adapted:.0%}: the share of each held-out query's relevant "
                        "passages found among its top 10 results, averaged over the queries.")
    report.seconds = time.perf_counter() - started
    return report


def _top(hits: list[dict[str, Any]], retrieval: RetrievalSet) -> str:
    return retrieval.corpus[hits[0]["corpus_id"]] if hits else ""
