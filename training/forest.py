"""Evaluate several XGBoost boosters on one row with numpy alone.

Why: serving scores one invoice at a time inside a 10 ms budget. An XGBoost
call per head costs ~0.1 ms of fixed overhead (five heads: ~0.5 ms); walking
all trees of all heads at once as flat numpy arrays costs one gather per tree
level. The arrays come from the booster's own JSON model (float32 split
values, default directions for missing values), so the result equals
``booster.inplace_predict(..., predict_type="margin")`` up to float rounding,
which the tests check.

Example::

    forest = Forest.from_boosters([b_late, b_late30])
    forest.margins(x)            # array([margin_late, margin_late30])
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xgboost as xgb


@dataclass(frozen=True)
class Forest:
    """All trees of ``n_outputs`` boosters as flat arrays; a leaf points to itself."""

    feature: np.ndarray      # int64 per node (0 for leaves)
    threshold: np.ndarray    # float32 per node: go left when x < threshold
    left: np.ndarray         # int64 global node index
    right: np.ndarray
    missing_left: np.ndarray  # bool: where a NaN goes
    value: np.ndarray        # float64 leaf value (0 for inner nodes)
    roots: np.ndarray        # int64 global index of each tree's root
    output: np.ndarray       # int64 output index of each tree
    offset: np.ndarray       # float64 base margin per output
    depth: int

    @classmethod
    def from_boosters(cls, boosters: list[xgb.Booster | None], constants: list[float],
                      n_features: int) -> "Forest":
        """Flatten ``boosters``; output ``i`` with ``boosters[i] is None`` is the margin ``constants[i]``."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right",
                                                             "missing_left", "value", "roots", "output")}
        base, depth = 0, 0
        for out, booster in enumerate(boosters):
            if booster is None:
                continue
            for tree in json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]:
                left = np.asarray(tree["left_children"], dtype=np.int64)
                right = np.asarray(tree["right_children"], dtype=np.int64)
                n = len(left)
                leaf = left < 0
                own = np.arange(n)
                cond = np.asarray(tree["split_conditions"], dtype=np.float32)
                parts["feature"].append(np.where(leaf, 0, np.asarray(tree["split_indices"], dtype=np.int64)))
                parts["threshold"].append(np.where(leaf, np.float32(0), cond).astype(np.float32))
                parts["left"].append(np.where(leaf, own, left) + base)
                parts["right"].append(np.where(leaf, own, right) + base)
                parts["missing_left"].append(np.asarray(tree["default_left"], dtype=bool))
                parts["value"].append(np.where(leaf, cond.astype(np.float64), 0.0))
                parts["roots"].append(np.array([base]))
                parts["output"].append(np.array([out]))
                depth = max(depth, _depth(left, right))
                base += n
        arrays = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in parts.items()}
        forest = cls(
            feature=arrays["feature"].astype(np.int64), threshold=arrays["threshold"].astype(np.float32),
            left=arrays["left"].astype(np.int64), right=arrays["right"].astype(np.int64),
            missing_left=arrays["missing_left"].astype(bool), value=arrays["value"].astype(np.float64),
            roots=arrays["roots"].astype(np.int64), output=arrays["output"].astype(np.int64),
            offset=np.zeros(len(boosters)), depth=depth)
        probe = np.zeros(n_features, dtype=np.float32)
        leaf_sums = forest.margins(probe)
        measured = [c if b is None else float(b.inplace_predict(probe[None, :], predict_type="margin")[0])
                    for b, c in zip(boosters, constants)]
        return Forest(**{**forest.__dict__, "offset": np.asarray(measured) - leaf_sums})

    def margins(self, x: np.ndarray) -> np.ndarray:
        """Raw margin of every output for one feature vector ``x`` (NaN = missing)."""
        x = np.asarray(x, dtype=np.float32)
        node = self.roots
        for _ in range(self.depth):
            v = x[self.feature[node]]
            go_left = np.where(np.isnan(v), self.missing_left[node], v < self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return np.bincount(self.output, weights=self.value[node], minlength=len(self.offset)) + self.offset


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Number of splits on the longest root-to-leaf path."""
    level = np.zeros(len(left), dtype=np.int64)
    for i in range(len(left)):  # children always follow their parent in XGBoost's layout
        if left[i] >= 0:
            level[left[i]] = level[right[i]] = level[i] + 1
    return int(level.max()) if len(level) else 0
