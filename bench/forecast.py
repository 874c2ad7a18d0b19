"""The cash-in forecast's back-test: weekly WAPE of the model and of the ageing-bucket baseline.

A simulated ledger; at every ``--every`` weeks from ``--first`` a model is trained on the ledger as
known that day and the 12-week forecast (``training.forecast.forecast``, the one the service runs) is
set against the payments that came in on the invoices open that day. Also: how often a week's
receipts fell in the 90 % interval, the forecast without the recent level (ablation), and the noise
floor (the mean absolute deviation a perfect forecast of the expectation would still have, from the
interval's variance: sqrt(2 / pi) sd per week, as a share of the receipts).

Usage: python bench/forecast.py [--customers 6000] [--months 24] [--seed 11] [--no-shock] [--json]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench._report import parser, report  # noqa: E402
from training.forecast import WEEKS, Z90, backtest, wape  # noqa: E402
from training.pipeline import TrainConfig  # noqa: E402
from training.simulation import SimulationConfig, simulate  # noqa: E402


def noise_floor(point) -> float:  # noqa: ANN001
    sd = (point.forecast.high_cents - point.forecast.expected_cents) / Z90
    return float(np.sqrt(2.0 / np.pi) * sd.sum() / max(point.actual_cents.sum(), 1))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--customers", type=int, default=6_000)
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--first", default="2025-01-06", help="the first forecast date")
    p.add_argument("--every", type=int, default=4, help="weeks between forecast dates")
    p.add_argument("--no-shock", action="store_true", help="simulate without the recession")
    args = p.parse_args()
    shock = (1.0, 1.0) if args.no_shock else SimulationConfig().shock
    ledger = simulate(SimulationConfig(customers=args.customers, months=args.months, seed=args.seed, shock=shock))
    last = ledger.payments["paid_at"].max() - pd.Timedelta(weeks=WEEKS)
    dates = list(pd.date_range(args.first, last, freq=f"{args.every}W-MON"))
    t0 = time.perf_counter()
    points = backtest(ledger, dates, TrainConfig(seed=args.seed))
    flat = backtest(ledger, dates, TrainConfig(seed=args.seed), level=False)
    figures: dict[str, float | int | str] = {"invoices": len(ledger.invoices), "forecast_dates": len(dates),
                                             "recession": "none" if args.no_shock else str(shock)}
    print("| forecast date | open invoices | received in 12 weeks (EUR) | model WAPE | baseline WAPE "
          "| model WAPE without the level | weeks in the 90 % interval | noise floor |")
    print("|---|---|---|---|---|---|---|---|")
    for point, plain in zip(points, flat):
        row = point.to_dict()
        print(f"| {row['at']} | {row['open_invoices']:,} | {row['actual_cents'] / 100:,.0f} | "
              f"{point.model_wape:.3f} | {point.baseline_wape:.3f} | {plain.model_wape:.3f} | "
              f"{round(point.coverage * WEEKS)} / {WEEKS} | {noise_floor(point):.3f} |")
        figures[f"{row['at']}.model_wape"] = round(point.model_wape, 4)
        figures[f"{row['at']}.baseline_wape"] = round(point.baseline_wape, 4)
    actual = np.concatenate([q.actual_cents for q in points])
    figures["pooled.model_wape"] = round(wape(np.concatenate([q.forecast.expected_cents for q in points]), actual), 4)
    figures["pooled.baseline_wape"] = round(wape(np.concatenate([q.forecast.baseline_cents for q in points]), actual), 4)
    figures["pooled.model_wape_without_level"] = round(
        wape(np.concatenate([q.forecast.expected_cents for q in flat]), actual), 4)
    figures["mean.model_wape"] = round(float(np.mean([q.model_wape for q in points])), 4)
    figures["mean.baseline_wape"] = round(float(np.mean([q.baseline_wape for q in points])), 4)
    figures["dates_model_better"] = int(sum(q.model_wape < q.baseline_wape for q in points))
    figures["coverage_90"] = round(float(np.mean([q.coverage for q in points])), 3)
    figures["mean.noise_floor"] = round(float(np.mean([noise_floor(q) for q in points])), 4)
    figures["backtest_s"] = round(time.perf_counter() - t0, 1)
    report("cash-in forecast back-test", figures, args.json)


if __name__ == "__main__":
    main()
