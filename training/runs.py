"""The work behind ``kredo train``: load, train, print the table, log, register (one training run).

Why here and not in ``serving/cli``: the notebook and the bench call the same
function, so the command line adds nothing but argument parsing.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from domain.errors import InvalidInput
from training.pipeline import TrainConfig, TrainResult, train
from training.report import metrics_table
from training.tracking import LoggedRun, log_run, write_report_json


def load_source(ledger: str | None = None, csv: str | None = None, mapping: str = "ar") -> tuple[Any, str]:
    """A validated ledger from a ledger directory or an invoice CSV (through ``mapping``)."""
    if ledger:
        from ledger.tables import load_ledger

        return load_ledger(ledger), f"ledger {ledger}"
    if csv:
        from training.mapping import read_invoice_csv

        return read_invoice_csv(csv, mapping), f"csv {csv} (mapping {mapping if len(mapping) < 40 else 'JSON'})"
    raise InvalidInput("give --ledger DIR or --csv PATH", field="ledger")


def dask_client(scheduler: str | None) -> Any:
    """A ``distributed.Client`` on ``scheduler`` (context manager), or a no-op context."""
    if not scheduler:
        return nullcontext(None)
    from distributed import Client

    return Client(scheduler)


def train_and_log(ledger: Any, config: TrainConfig, tracking_uri: str | None = None, client: Any = None,
                  register: bool = True, source: str = "ledger", progress: bool = True) -> tuple[TrainResult, LoggedRun]:
    """Train, then log (and register) the run; the one path for CLI, notebook and bench."""
    result = train(ledger, config, client=client, progress=progress)
    logged = log_run(result, tracking_uri, config_params=config.params(), register=register, source=source)
    return result, logged


def train_command(ledger: str | None, csv: str | None, mapping: str, report_json: str | None,
                  tracking_uri: str | None, dask: str | None, register: bool, **config: Any) -> int:
    data, source = load_source(ledger, csv, mapping)
    cfg = TrainConfig(**config)
    with dask_client(dask) as client:
        result, logged = train_and_log(data, cfg, tracking_uri, client, register, source)
    print(metrics_table(logged.metrics))
    for head, window in result.dataset.window()["heads"].items():
        print(f"  {head:<10} train {'..'.join(window['train']) or '-'}  valid {','.join(window['valid']) or '-'}"
              f"  test {','.join(window['test']) or '-'}")
    for note in logged.notes:
        print(f"  note: {note}")
    print(f"run {logged.run_id}" + (f", registered payment-delay v{logged.version} as challenger"
                                    if logged.version else ""))
    if report_json:
        write_report_json(report_json, logged, result.dataset.window())
    return 0
