"""Classification figures for speech emotion: accuracy next to unweighted average recall.

Acted corpora have uneven classes, so accuracy alone flatters a model that favours the big ones;
UA (the mean of per-class recalls) and macro-F1 do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def confusion(truth: npt.ArrayLike, predicted: npt.ArrayLike, n: int) -> IntArray:
    """Counts, rows the true class and columns the predicted one."""
    matrix = np.zeros((n, n), np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def scores(truth: npt.ArrayLike, predicted: npt.ArrayLike, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, UA and macro-F1 over the classes present in ``truth``, plus per-class figures."""
    matrix = confusion(truth, predicted, len(labels))
    support = matrix.sum(axis=1)
    claimed = matrix.sum(axis=0)
    hits = np.diag(matrix)
    present = support > 0
    recall = np.divide(hits, support, out=np.zeros(len(labels)), where=present)
    precision = np.divide(hits, claimed, out=np.zeros(len(labels)), where=claimed > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(len(labels)), where=both > 0)
    total = int(support.sum())
    return {
        "clips": total,
        "accuracy": float(hits.sum() / total) if total else 0.0,
        "ua": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
            if present[i]
        },
        "labels": list(labels),
        "confusion": matrix.tolist(),
    }


def by_group(
    truth: npt.ArrayLike, predicted: npt.ArrayLike, groups: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """:func:`scores` pooled (key ``"all"``) and for each group (corpus) on its own."""
    truth_a, pred_a, groups_a = np.asarray(truth), np.asarray(predicted), np.asarray(groups)
    out = {"all": scores(truth_a, pred_a, labels)}
    for g in sorted(set(groups_a.tolist())):
        keep = groups_a == g
        out[g] = scores(truth_a[keep], pred_a[keep], labels)
    return out
