"""Classification metrics computed from logits: accuracy and macro-F1 (no scikit-learn needed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transformers import EvalPrediction


def classification_scores(predictions: np.ndarray, labels: np.ndarray, num_labels: int) -> dict[str, float]:
    """Accuracy and macro-averaged F1 over the classes present in labels or predictions."""
    predictions = np.asarray(predictions).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    accuracy = float((predictions == labels).mean()) if labels.size else 0.0
    f1_scores = []
    for label in range(num_labels):
        true_positive = int(((predictions == label) & (labels == label)).sum())
        predicted = int((predictions == label).sum())
        actual = int((labels == label).sum())
        if predicted == 0 and actual == 0:
            continue
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1_scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {"accuracy": accuracy, "macro_f1": float(np.mean(f1_scores)) if f1_scores else 0.0}


def make_compute_metrics(num_labels: int) -> Callable[[EvalPrediction], dict[str, float]]:
    """A ``compute_metrics`` function for the Trainer of a classification job."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return classification_scores(np.argmax(logits, axis=-1), prediction.label_ids, num_labels)

    return compute_metrics
