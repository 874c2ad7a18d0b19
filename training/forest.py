"""Score and explain XGBoost boosters on one row with numpy alone.

Why: serving scores and explains one invoice at a time inside a 10 ms budget.
An XGBoost call costs a fixed ~0.1 ms per head, and ``pred_contribs`` on a
one-row ``DMatrix`` ~0.3 ms, more than everything else a decision does. The
trees here are shallow (depth 3-6), which allows a layout where one row costs a
dozen vector operations whatever the number of trees.

Margins (:class:`Forest`): all trees of all heads walk down together, one
gather per level (``x < split``; NaN takes the node's default side, as
XGBoost does).

SHAP layout (:class:`TreeShap`): every leaf keeps its root-to-leaf path (the
internal node at each of ``depth`` steps and the side the leaf lies on,
padded with an always-true step). One row compares every internal node's
feature with its split, gathers along every leaf's path whether ``x`` went
the leaf's way, and weighs those bits into a ``depth``-bit *code*: about ten
numpy calls for any number of trees.

Exact TreeSHAP from the codes (path-dependent, Lundberg et al. 2020): the
tree's expected value given the features in ``S`` is ``sum over leaves of
v * prod over path features u of (o_u if u in S else z_u)``, where ``o_u`` is 1
when ``x`` follows the path at every node splitting on ``u`` (else 0) and
``z_u`` is the product of the cover fractions ``cover(child) / cover(node)``
at those nodes. Each leaf is therefore a product game of at most ``depth``
players whose ``o_u`` are bits of the leaf's code; its Shapley values for all
``2**depth`` codes are computed once at load by the Shapley formula itself
(every subset, float64), and by linearity a row's SHAP values are one gather
from that table and one ``bincount`` over the path features. The covers are
the booster's ``sum_hessian`` (``with_count_covers`` makes them training-row
counts, so the expected value is the training rows' mean margin), the same
numbers ``shap.TreeExplainer`` and XGBoost's ``pred_contribs`` read, so the
values equal theirs; the tests check both, and the margins against the
booster's own leaves (``pred_leaf``).

The table has ``leaves * 2**depth * depth`` floats (100 trees of depth 4:
0.8 MB, built in 0.2 s; 200 of depth 6: 34 MB, 2.4 s), so trees deeper than
:data:`MAX_DEPTH` are refused.

Example::

    forest = Forest.from_boosters([b_late, b_late30], [0.0, 0.0])
    forest.margins(x)                                    # array([margin_late, margin_late30])
    shap_late = TreeShap.from_booster(b_late, n_features=40)
    shap_late.explain(x).sum() + shap_late.expected_value   # the margin
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from math import factorial
from typing import Any
import numpy as np
import xgboost as xgb

from domain.errors import ModelError

MAX_DEPTH = 6
_MARGIN_LINKS = {"binary:logistic": lambda s: float(np.log(s / (1.0 - s))),
                 "reg:squarederror": float, "reg:quantileerror": float}


@dataclass(frozen=True)
class _Trees:
    """The parsed trees of one booster: internal nodes and leaf paths with local indices."""

    feature: np.ndarray       # int64 per internal node
    threshold: np.ndarray     # float32 per internal node
    default_left: np.ndarray  # bool per internal node
    path: np.ndarray          # (leaves, depth) int64: internal node per step, -1 = padding
    path_left: np.ndarray     # (leaves, depth) bool: the leaf lies left of that node
    fraction: np.ndarray      # (leaves, depth) float64: cover(child on the path) / cover(node); 1 for padding
    value: np.ndarray         # float64 per leaf
    base_margin: float        # the booster's base score in margin space
    depth: int


def _base_margin(learner: dict[str, Any]) -> float:
    """The booster's base score in margin space (``base_score`` through the objective's link)."""
    objective = learner["objective"]["name"]
    if objective not in _MARGIN_LINKS:
        raise ModelError(f"objective {objective} is not supported by the numpy forest", field="objective")
    base = ast.literal_eval(learner["learner_model_param"]["base_score"])
    return _MARGIN_LINKS[objective](float(np.ravel(base)[0]))


def _parse(booster: xgb.Booster) -> _Trees:
    """Read the booster's own JSON model (float32 splits, default sides, covers, leaf values)."""
    learner = json.loads(booster.save_raw("json"))["learner"]
    base_margin = _base_margin(learner)
    feature, threshold, default_left, value = [], [], [], []
    paths: list[list[tuple[int, bool, float]]] = []
    n_internal = 0
    for tree in learner["gradient_booster"]["model"]["trees"]:
        left, right = tree["left_children"], tree["right_children"]
        split, cover, cond = tree["split_indices"], tree["sum_hessian"], tree["split_conditions"]
        local = {}  # tree node id -> internal node index of this booster
        stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if left[node] < 0:
                value.append(float(np.float32(cond[node])))
                paths.append(path)
                continue
            local[node] = n_internal
            n_internal += 1
            feature.append(split[node])
            threshold.append(cond[node])
            default_left.append(bool(tree["default_left"][node]))
            if cover[node] <= 0:
                raise ModelError(f"a tree node has cover {cover[node]}: no training row reaches it", field="covers")
            for child, is_left in ((left[node], True), (right[node], False)):
                stack.append((child, path + [(local[node], is_left, cover[child] / cover[node])]))
    depth = max(1, max(len(p) for p in paths))
    if depth > MAX_DEPTH:
        raise ModelError(f"trees of depth {depth} exceed {MAX_DEPTH}: exact SHAP tables would not fit in memory",
                         field="max_depth")
    shape = (len(paths), depth)
    path_idx, path_left, fraction = np.full(shape, -1, np.int64), np.ones(shape, bool), np.ones(shape)
    for i, path in enumerate(paths):
        for k, (node, is_left, frac) in enumerate(path):
            path_idx[i, k], path_left[i, k], fraction[i, k] = node, is_left, frac
    return _Trees(np.asarray(feature, np.int64), np.asarray(threshold, np.float32), np.asarray(default_left, bool),
                  path_idx, path_left, fraction, np.asarray(value, np.float64), base_margin, depth)


@dataclass(frozen=True)
class Forest:
    """All trees of ``n_outputs`` boosters as flat arrays; a leaf points to itself."""

    feature: np.ndarray       # int64 per node (0 for leaves)
    threshold: np.ndarray     # float32 per node: go left when x < threshold
    left: np.ndarray          # int64 global node index
    right: np.ndarray
    missing_left: np.ndarray  # bool: where a NaN goes
    value: np.ndarray         # float64 leaf value (0 for inner nodes)
    roots: np.ndarray         # int64 global index of each tree's root
    output: np.ndarray        # int64 output index of each tree
    base: np.ndarray          # float64 base margin per output (a constant output: its constant)
    depth: int

    @classmethod
    def from_boosters(cls, boosters: list[xgb.Booster | None], constants: list[float]) -> "Forest":
        """Flatten ``boosters``; output ``i`` with ``boosters[i] is None`` is the margin ``constants[i]``."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right",
                                                             "missing_left", "value", "roots", "output")}
        offset, depth, base = 0, 0, []
        for out, booster in enumerate(boosters):
            if booster is None:
                base.append(constants[out])
                continue
            learner = json.loads(booster.save_raw("json"))["learner"]
            base.append(_base_margin(learner))
            for tree in learner["gradient_booster"]["model"]["trees"]:
                left = np.asarray(tree["left_children"], dtype=np.int64)
                right = np.asarray(tree["right_children"], dtype=np.int64)
                leaf, own = left < 0, np.arange(len(left))
                cond = np.asarray(tree["split_conditions"], dtype=np.float32)
                parts["feature"].append(np.where(leaf, 0, np.asarray(tree["split_indices"], dtype=np.int64)))
                parts["threshold"].append(np.where(leaf, np.float32(0), cond).astype(np.float32))
                parts["left"].append(np.where(leaf, own, left) + offset)
                parts["right"].append(np.where(leaf, own, right) + offset)
                parts["missing_left"].append(np.asarray(tree["default_left"], dtype=bool))
                parts["value"].append(np.where(leaf, cond.astype(np.float64), 0.0))
                parts["roots"].append(np.array([offset]))
                parts["output"].append(np.array([out]))
                depth = max(depth, _depth(left, right))
                offset += len(left)
        dtypes = {"feature": np.int64, "threshold": np.float32, "left": np.int64, "right": np.int64,
                  "missing_left": bool, "value": np.float64, "roots": np.int64, "output": np.int64}
        arrays = {k: (np.concatenate(v) if v else np.zeros(0)).astype(dtypes[k]) for k, v in parts.items()}
        if not (np.all(np.isfinite(arrays["value"])) and np.all(np.isfinite(base))):
            raise ModelError("a leaf value is not finite: the trees would score infinity or NaN", field="leaves")
        return cls(**arrays, base=np.asarray(base, dtype=np.float64), depth=depth)

    def margins(self, x: np.ndarray) -> np.ndarray:
        """Raw margin of every output for one feature vector ``x`` (float32, NaN = missing):
        one gather per tree level over all trees at once."""
        node = self.roots
        nan = bool(np.isnan(x).any())
        for _ in range(self.depth):
            v = x[self.feature[node]]
            go_left = v < self.threshold[node]
            if nan:
                go_left = np.where(np.isnan(v), self.missing_left[node], go_left)
            node = np.where(go_left, self.left[node], self.right[node])
        return np.bincount(self.output, weights=self.value[node], minlength=len(self.base)) + self.base

    def margins_many(self, X: np.ndarray) -> np.ndarray:
        """``margins`` of every row of ``X`` (float32, shape ``(n, features)``), bit for bit: the same
        walk, and each output's leaf values added in tree order from 0 (a running sum, as ``bincount``
        adds them), so a batch decides exactly as one row at a time."""
        node = np.broadcast_to(self.roots, (len(X), len(self.roots)))
        rows = np.arange(len(X))[:, None]
        nan = np.isnan(X).any()
        for _ in range(self.depth):
            v = X[rows, self.feature[node]]
            go_left = v < self.threshold[node]
            if nan:
                go_left = np.where(np.isnan(v), self.missing_left[node], go_left)
            node = np.where(go_left, self.left[node], self.right[node])
        values = self.value[node]
        out = np.zeros((len(X), len(self.base)))
        for k in range(len(self.base)):
            trees = np.flatnonzero(self.output == k)
            if len(trees):  # the trees of one output are contiguous (one booster after the other)
                out[:, k] = np.cumsum(values[:, trees[0]:trees[-1] + 1], axis=1)[:, -1]
        return out + self.base


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Number of splits on the longest root-to-leaf path."""
    level = np.zeros(len(left), dtype=np.int64)
    for i in range(len(left)):  # children always follow their parent in XGBoost's layout
        if left[i] >= 0:
            level[left[i]] = level[right[i]] = level[i] + 1
    return int(level.max()) if len(level) else 0


@dataclass(frozen=True)
class TreeShap:
    """Exact path-dependent TreeSHAP of one booster, tabulated per leaf and code (module doc)."""

    feature: np.ndarray       # int64 per internal node
    threshold: np.ndarray     # float32 per internal node
    default_left: np.ndarray  # bool per internal node
    step: np.ndarray          # (leaves, depth) index into [goes left (n), True, goes right (n)]: the side the
    #                           leaf lies on at each node of its path; padding points at the True
    path_feature: np.ndarray  # (leaves * depth,) feature of each step (0 for padding: its table entry is 0)
    row: np.ndarray           # first table row of each leaf
    table: np.ndarray         # (leaves * 2**depth, depth) contribution of each step's feature
    expected_value: float     # the margin expected under the covers (SHAP's base value)
    n_features: int

    @classmethod
    def from_booster(cls, booster: xgb.Booster, n_features: int) -> "TreeShap":
        trees = _parse(booster)
        n = len(trees.feature)
        step = np.where(trees.path < 0, n, np.where(trees.path_left, trees.path, n + 1 + trees.path))
        # A booster whose trees are all single leaves (a head with one class in its training rows) has no
        # internal node for a path to point at: every step is padding.
        path_feature = (np.where(trees.path >= 0, trees.feature[np.maximum(trees.path, 0)], 0) if n
                        else np.zeros(trees.path.shape, dtype=np.int64))
        table, reach = _shapley_tables(trees, path_feature)
        return cls(trees.feature, trees.threshold, trees.default_left, step.astype(np.intp), path_feature.ravel(),
                   np.arange(len(trees.value), dtype=np.intp) << trees.depth, table.reshape(-1, trees.depth),
                   float(trees.base_margin + reach @ trees.value), n_features)

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Per leaf, the ``depth``-bit code of the steps of its path that ``x`` (float32) follows."""
        v = x[self.feature]
        left = v < self.threshold
        if np.isnan(x).any():
            left = np.where(np.isnan(v), self.default_left, left)
        return np.concatenate((left, _TRUE, ~left))[self.step] @ _WEIGHTS[:self.step.shape[1]]

    def explain(self, x: np.ndarray) -> np.ndarray:
        """SHAP values of ``x`` (float32): ``explain(x).sum() + expected_value`` is the margin."""
        steps = self.table[self.row + self.codes(x)]
        return np.bincount(self.path_feature, weights=steps.ravel(), minlength=self.n_features)

    def explain_many(self, X: np.ndarray, chunk: int = 256) -> np.ndarray:
        """``explain`` of every row of ``X`` (float32), bit for bit: the same codes and table rows, and one
        ``bincount`` whose bins are (row, feature), so each row's values are added in the same order."""
        out = np.empty((len(X), self.n_features))
        for lo in range(0, len(X), chunk):
            part = X[lo:lo + chunk]
            v = part[:, self.feature]
            left = v < self.threshold
            if np.isnan(part).any():
                left = np.where(np.isnan(v), self.default_left, left)
            sides = np.concatenate((left, np.ones((len(part), 1), dtype=bool), ~left), axis=1)
            codes = sides[:, self.step] @ _WEIGHTS[:self.step.shape[1]]
            steps = self.table[self.row + codes]
            bins = (np.arange(len(part))[:, None] * self.n_features + self.path_feature[None, :]).ravel()
            out[lo:lo + len(part)] = np.bincount(bins, weights=steps.ravel(),
                                                 minlength=len(part) * self.n_features).reshape(len(part), -1)
        return out


_TRUE = np.ones(1, dtype=bool)
_WEIGHTS = 1 << np.arange(MAX_DEPTH, dtype=np.intp)


def _shapley_tables(trees: _Trees, path_feature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values of every leaf's product game for every code: ``(leaves, 2**depth, depth)``,
    and each leaf's probability under the covers (its weight in the expected value).

    Players are the path steps; a feature met twice on a path is one player (its first step:
    ``o`` and ``z`` multiply over its steps), its later steps and the padding are null players
    (``o = z = 1``), which change no one's Shapley value.
    """
    n_leaves, depth = trees.path.shape
    n_codes = 1 << depth
    first = np.empty((n_leaves, depth), np.int64)  # the step that stands for this step's feature
    for k in range(depth):
        same = (path_feature[:, :k + 1] == path_feature[:, k:k + 1]) & (trees.path[:, :k + 1] >= 0)
        first[:, k] = np.where(trees.path[:, k] >= 0, np.argmax(same, axis=1), k)
    bits = (np.arange(n_codes)[:, None] >> np.arange(depth)[None, :]) & 1  # (codes, depth)
    leader = first == np.arange(depth)[None, :]
    z = np.ones((n_leaves, depth))
    o = np.ones((n_leaves, n_codes, depth))
    for k in range(depth):
        member = (first == first[:, k:k + 1])  # steps that share step k's feature
        z[:, k] = np.where(leader[:, k], np.prod(np.where(member, trees.fraction, 1.0), axis=1), 1.0)
        joint = np.where(member[:, None, :], bits[None, :, :], 1).prod(axis=2)
        o[:, :, k] = np.where(leader[:, k:k + 1], joint, 1.0)
    subsets = np.arange(1 << depth)
    size = np.array([bin(subset).count("1") for subset in subsets])
    weight = np.array([factorial(k) * factorial(depth - k - 1) / factorial(depth) for k in range(depth)])
    table = np.empty((n_leaves, n_codes, depth))
    chunk = max(1, (1 << 18) // (n_codes << depth))  # the subset values of one chunk stay in cache (2 MB)
    for lo in range(0, n_leaves, chunk):
        oc, zc = o[lo:lo + chunk], z[lo:lo + chunk, None, :]
        value = np.empty((1 << depth,) + oc.shape[:2])  # the game's value of every subset of players
        value[0] = zc.prod(axis=2)
        for subset in range(1, 1 << depth):  # from the subset without its highest player: z -> o
            top = subset.bit_length() - 1
            value[subset] = value[subset ^ (1 << top)] / zc[:, :, top] * oc[:, :, top]
        for i in range(depth):  # sum over S without i of w(|S|) (v(S + i) - v(S))
            without = subsets[(subsets >> i & 1) == 0]
            table[lo:lo + chunk, :, i] = np.tensordot(weight[size[without]],
                                                      value[without | 1 << i] - value[without], axes=1)
    table *= trees.value[:, None, None]
    return table, np.prod(z, axis=1)


def with_count_covers(booster: xgb.Booster, X: np.ndarray) -> tuple[xgb.Booster, float]:
    """The same trees with each node's cover set to the number of rows of ``X`` that reach it,
    and the mean margin of those rows (float64 sum of their leaves).

    XGBoost's covers are hessian sums over each tree's subsample (``p(1-p)`` per row for log
    loss), so TreeSHAP's base value is a hessian-weighted mean that no one can state. With
    training-row counts, the base value is the mean margin over the training rows and each
    cover fraction is the share of training rows that went that way. Predictions do not change.
    """
    leaves = np.asarray(booster.predict(xgb.DMatrix(X), pred_leaf=True), dtype=np.int64).reshape(len(X), -1)
    model = json.loads(booster.save_raw("json"))
    total = 0.0
    for t, tree in enumerate(model["learner"]["gradient_booster"]["model"]["trees"]):
        left, right = tree["left_children"], tree["right_children"]
        counts = np.bincount(leaves[:, t], minlength=len(left)).astype(np.float64)
        is_leaf = np.asarray(left) < 0
        total += float(counts[is_leaf] @ np.asarray(tree["split_conditions"], np.float32)[is_leaf].astype(np.float64))
        for node in range(len(left) - 1, -1, -1):  # children always follow their parent
            if left[node] >= 0:
                counts[node] = counts[left[node]] + counts[right[node]]
        tree["sum_hessian"] = counts.tolist()
    refreshed = xgb.Booster()
    refreshed.load_model(bytearray(json.dumps(model).encode()))
    return refreshed, _base_margin(model["learner"]) + total / len(X)
