"""Train and evaluate: ledger -> features -> labels -> split -> model + baselines -> metrics.

Why one function: ``kredo train``, the notebook, the bench and the tests all
run exactly this path, so the figures in a report are the figures of the model
that gets registered. Features come only from ``features.offline`` (the one
code path shared with serving); this module adds labels, the split and scoring.

Example::

    result = train(simulate(SimulationConfig(customers=2_000, months=18)))
    result.metrics["xgboost"]["late.roc_auc"], result.metrics["logistic"]["late.roc_auc"]
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from domain.errors import InvalidInput
from ledger.tables import Ledger
from training.baselines import BASELINES, fit_predict_baselines
from training.labels import BINARY_HEADS, HEADS, LabelConfig, make_labels
from training.metrics import classification_metrics, regression_metrics
from training.model import OUTPUTS, PaymentDelayModel
from training.split import Splits, time_split

CANDIDATE = "xgboost"  # the trained model's label in the table against the baselines
#: What a binary head's period offset is the rate of (see :mod:`training.model`): nothing, the month of
#: issue, or the month of issue within the customer's sector. A downturn hits some sectors, not the
#: book: with one rate per month the hit sectors' rise lifts every customer's offset, so the trees learn
#: that everyone else pays *better* than usual and that a bad recent history means more than it does.
PERIOD_EFFECTS = ("none", "month", "month_sector")
#: Which model output is scored against which label (days late: the mean and the 80th percentile).
OUTPUT_OF = {"late": "p_late", "late_30": "p_late_30", "write_off": "p_write_off"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (logged as MLflow parameters)."""

    n_estimators: int = 300
    max_depth: int = 3
    min_child_weight: float = 50.0
    learning_rate: float = 0.1
    early_stopping_rounds: int = 30
    valid_months: int = 2
    test_months: int = 2
    min_known_share: float = 0.9
    period_effects: str = "month_sector"
    seed: int = 7
    n_jobs: int = 2
    labels: LabelConfig = field(default_factory=LabelConfig)

    def __post_init__(self) -> None:
        if self.period_effects not in PERIOD_EFFECTS:
            raise InvalidInput(f"period_effects must be one of {list(PERIOD_EFFECTS)} (got {self.period_effects!r})",
                               field="period_effects")

    def model(self) -> PaymentDelayModel:
        return PaymentDelayModel(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                 min_child_weight=self.min_child_weight, learning_rate=self.learning_rate,
                                 early_stopping_rounds=self.early_stopping_rounds,
                                 days_cap=self.labels.days_cap, n_jobs=self.n_jobs, random_state=self.seed)

    def params(self) -> dict[str, Any]:
        flat = asdict(self)
        flat.update({f"labels.{k}": v for k, v in flat.pop("labels").items()})
        return flat


@dataclass
class Dataset:
    """Feature matrix, labels and split of one ledger, row-aligned."""

    X: pd.DataFrame            # FEATURE_NAMES columns, one row per invoice
    labels: pd.DataFrame       # training.labels.make_labels, same row order
    splits: Splits
    as_of: pd.Timestamp
    sector: np.ndarray         # the customer's sector per row (period effects per month x sector)

    def rows(self, part: str) -> np.ndarray:
        """Rows used in ``part`` by any head."""
        return np.logical_or.reduce([self.splits.mask(h, part) for h in HEADS])

    def targets(self, part: str, rows: np.ndarray) -> pd.DataFrame:
        """Labels of ``rows`` with NaN wherever a head does not use that row in ``part``."""
        return pd.DataFrame({h: np.where(self.splits.mask(h, part)[rows], self.labels[h].to_numpy()[rows], np.nan)
                             for h in HEADS})

    def window(self) -> dict[str, Any]:
        """The data window: as-of time, issue dates and each head's train/valid/test months."""
        issued = self.labels["issued_at"]
        return {"as_of": str(self.as_of), "first_issued": str(issued.min()), "last_issued": str(issued.max()),
                "invoices": int(len(self.labels)), "heads": self.splits.windows}

    def periods(self, effects: str) -> np.ndarray | None:
        """Each row's period label for the model's offsets (``PERIOD_EFFECTS``), or None for none."""
        if effects == "none":
            return None
        month = self.labels["issued_at"].dt.to_period("M").astype(str).to_numpy().astype(object)
        return month if effects == "month" else month + "|" + self.sector

    def data_hash(self) -> str:
        """SHA-256 of the feature names, matrix and labels of the rows the model learns from."""
        used = self.rows("train") | self.rows("valid")
        h = hashlib.sha256("|".join(self.X.columns).encode())
        h.update(np.ascontiguousarray(self.X.to_numpy(dtype=np.float32)[used]).tobytes())
        h.update(np.ascontiguousarray(self.labels[list(HEADS)].to_numpy(dtype=np.float64)[used]).tobytes())
        h.update("|".join(map(str, self.sector[used])).encode())
        return h.hexdigest()


@dataclass
class TrainResult:
    model: PaymentDelayModel
    dataset: Dataset
    metrics: dict[str, dict[str, float]]
    test_predictions: dict[str, dict[str, np.ndarray]]  # {model: {head or output: values on test rows}}
    test_rows: np.ndarray


def build_dataset(ledger: Ledger, config: TrainConfig = TrainConfig()) -> Dataset:
    """Features (``features.offline``), labels and the time split of ``ledger``."""
    from features.definitions import FEATURE_NAMES
    from features.offline import build_feature_table

    table = build_feature_table(ledger)
    labels = make_labels(ledger, config=config.labels)
    table = table.set_index("invoice_id").reindex(labels["invoice_id"])
    X = table[list(FEATURE_NAMES)].reset_index(drop=True)
    splits = time_split(labels, config.valid_months, config.test_months, config.min_known_share)
    sector = labels["customer_id"].map(ledger.customers.set_index("customer_id")["sector"]).to_numpy(dtype=object)
    return Dataset(X=X, labels=labels, splits=splits, as_of=labels.attrs["as_of"], sector=sector)


def score(predictions: dict[str, np.ndarray], dataset: Dataset, rows: np.ndarray) -> dict[str, float]:
    """Every test metric of one model; ``predictions`` maps head (and ``days_late_p80``) to values on ``rows``."""
    metrics: dict[str, float] = {}
    for head in HEADS:
        test = dataset.splits.mask(head, "test")[rows]
        y = dataset.labels[head].to_numpy()[rows][test]
        if head in BINARY_HEADS:
            for k, v in classification_metrics(y, predictions[head][test]).items():
                metrics[f"{head}.{k}"] = v
        else:
            for k, v in regression_metrics(y, predictions[head][test], predictions["days_late_p80"][test]).items():
                metrics[f"{head}.{k}"] = v
    return metrics


def model_predictions(model: PaymentDelayModel, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model's outputs keyed the way :func:`score` reads them."""
    pred = model.predict(X)
    out = {head: pred[OUTPUT_OF[head]].to_numpy() for head in BINARY_HEADS}
    out["days_late"] = pred["expected_days_late"].to_numpy()
    out["days_late_p80"] = pred["days_late_p80"].to_numpy()
    return out


def train(ledger: Ledger | Dataset, config: TrainConfig = TrainConfig(), client: Any = None,
          progress: bool = True) -> TrainResult:
    """Build the dataset, fit the model and the baselines, score all on the test months."""
    steps = tqdm(total=3 + len(OUTPUTS), desc="train", disable=not progress, leave=False)
    steps.set_postfix_str("features")
    dataset = ledger if isinstance(ledger, Dataset) else build_dataset(ledger, config)
    steps.update(1)
    X = dataset.X
    train_rows, valid_rows = dataset.rows("train"), dataset.rows("valid")
    steps.set_postfix_str("xgboost")
    period = dataset.periods(config.period_effects)
    model = config.model().fit(X[train_rows], dataset.targets("train", train_rows),
                               eval_set=(X[valid_rows], dataset.targets("valid", valid_rows)),
                               client=client, progress=steps,
                               period=None if period is None else period[train_rows],
                               eval_period=None if period is None else period[valid_rows])
    steps.set_postfix_str("baselines")
    baselines = fit_predict_baselines(dataset.labels, X.to_numpy(dtype=np.float64), dataset.splits, config.seed)
    steps.update(1)
    steps.set_postfix_str("evaluate")
    rows = dataset.rows("test")
    predictions = {CANDIDATE: model_predictions(model, X[rows])}
    for name in BASELINES:
        predictions[name] = {head: values[rows] for head, values in baselines[name].items()}
        predictions[name]["days_late_p80"] = predictions[name]["days_late"]
    metrics = {name: score(p, dataset, rows) for name, p in predictions.items()}
    steps.update(1)
    steps.close()
    return TrainResult(model=model, dataset=dataset, metrics=metrics, test_predictions=predictions, test_rows=rows)
