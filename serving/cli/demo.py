"""``kredo demo``: prepare everything on embedded defaults, then serve.

Why: a newcomer needs one command that shows the product working, with no
server to set up: a simulated ledger, a trained champion model in the local
MLflow store, the default policy, the in-process feature store warmed with
the ledger's history, the SQLite audit log, one API key per role, and the API
on localhost with ready-to-paste ``curl`` lines. Each preparation step is
idempotent: it is skipped when its output is already there, so ``kredo demo
--no-serve`` can run again and again.

The keys are made by the code ``kredo keys create`` runs and written, one
``KREDO_KEY_<ROLE>=...`` line per role, to ``<dir>/api-keys.env`` (mode 0600,
under ``var/``, which git ignores): no key is committed or printed, only where
they are. A rerun keeps the keys in that file as long as they still
authenticate, and replaces those that do not (revoked, or another pepper).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from domain.vocabulary import ROLES

DEFAULT_DIR = Path("var/demo")
KEYS_FILE = "api-keys.env"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="simulate, train and serve on embedded defaults")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="working directory for the demo data")
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or the SQLite store in mlruns/)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-serve", action="store_true", help="prepare everything, then exit")
    p.set_defaults(func=run)


def _start(months: int) -> str:
    """First day of the month ``months`` before this one, so the demo's history ends today."""
    import pandas as pd

    return (pd.Timestamp.today().normalize().replace(day=1) - pd.DateOffset(months=months)).strftime("%Y-%m-%d")


def prepare_ledger(args: argparse.Namespace) -> Path:
    """Simulate the demo ledger unless it is already there."""
    from ledger.tables import save_ledger
    from serving.cli.simulate import print_stats
    from training.simulation import SimulationConfig, simulate, summarize

    out = args.dir / "ledger"
    if (out / "invoices.parquet").exists():
        print(f"[demo] ledger already in {out}")
        return out
    ledger = simulate(SimulationConfig(customers=args.customers, months=args.months, seed=args.seed,
                                       start=_start(args.months)))
    save_ledger(ledger, out)
    print(f"[demo] simulated ledger in {out}")
    print_stats(summarize(ledger))
    return out


def prepare_champion(ledger_dir: Path, tracking_uri: str, seed: int) -> str:
    """Train, register and promote a model unless a servable champion exists; returns its version.

    A champion that no longer loads (e.g. registered before the feature set changed) is replaced.
    """
    from domain.errors import ModelError, NotFound
    from ledger.tables import load_ledger
    from serving.bootstrap import ensure_champion
    from training.pipeline import TrainConfig
    from training.registry import load_model
    from training.report import metrics_table

    try:
        _, info = load_model(tracking_uri=tracking_uri)
        print(f"[demo] champion model already registered: {info.name} v{info.version} ({tracking_uri})")
        return info.version
    except NotFound:
        print(f"[demo] training the first payment-delay model into {tracking_uri} ...")
    except ModelError as exc:
        print(f"[demo] the registered champion cannot be served ({exc.detail}); training a new one ...")
    info = ensure_champion(load_ledger(ledger_dir), tracking_uri, TrainConfig(seed=seed))
    print(f"[demo] the model against the baselines on the test months:\n{metrics_table(info['metrics'])}")
    print(f"[demo] champion: {info['uri']} (v{info['version']})")
    return info["version"]


def env_name(role: str) -> str:
    return f"KREDO_KEY_{role.upper()}"


def curl_examples(base: str, customer: dict[str, str], invoice_id: str, keys_file: Path) -> str:
    """Requests for ``customer`` (its record: id, type, country, profile, size) and one of its open invoices,
    each with the key of the role it needs (read from ``keys_file`` by the shell)."""
    checkout = {"request_id": "demo-ord-1", "customer": customer,
                "order": {"amount": 1250.0, "currency": "EUR", "payment_terms_days": 30}}
    next_action = {"request_id": "demo-na-1", "invoice_id": invoice_id}
    auth = lambda role: f'-H "Authorization: Bearer ${env_name(role)}"'  # noqa: E731
    return "\n".join([
        f". {keys_file}    # one key per role: {', '.join(f'${env_name(r)}' for r in ROLES)}",
        f"curl -s -X POST {base}/v1/decisions/checkout {auth('checkout')} -H 'Content-Type: application/json' "
        f"-d '{json.dumps(checkout)}'",
        f"curl -s -X POST {base}/v1/decisions/next-action {auth('dunning')} -H 'Content-Type: application/json' "
        f"-d '{json.dumps(next_action)}'",
        f"curl -s {auth('dunning')} {base}/v1/customers/{customer['id']}    # standing, exposure, ageing, "
        "last decisions",
        f"curl -s {auth('dunning')} {base}/v1/invoices/{invoice_id}    # the invoice's timeline",
        f"curl -s {auth('auditor')} {base}/v1/decisions/<decision_id>    # the audit record",
        f"curl -s {base}/openapi.json",
    ])


def prepare_keys(ledger_url: str, path: Path) -> dict[str, str]:
    """One key per role in ``path`` (mode 0600), made as ``kredo keys create`` makes them; live ones kept."""
    from ledger.database import open_ledger
    from ledger.keys import create_key, pepper_bytes
    from serving.access import KeyRing
    from serving.config import load

    pepper = pepper_bytes(load()["KEY_PEPPER"])
    engine = open_ledger(ledger_url)
    ring = KeyRing(engine, pepper, refresh_s=0.0)
    known = _read_keys(path)
    keys, made = {}, []
    for role in ROLES:
        token = known.get(role)
        key = None if token is None else ring.authenticate(token)
        if key is None or key.role != role:
            token = create_key(engine, role, f"demo-{role}", pepper).token
            made.append(role)
        keys[role] = token
    engine.dispose()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file was there with a wider mode
    with os.fdopen(fd, "w") as out:
        out.write("# Kredo demo API keys, one per role (kredo keys list shows them; kredo keys revoke ID)\n")
        out.writelines(f"{env_name(role)}={token}\n" for role, token in keys.items())
    print(f"[demo] API keys, one per role, in {path} (mode 0600; "
          + (f"made: {', '.join(made)})" if made else "kept from the last run)"))
    return keys


def _read_keys(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.strip().partition("=") for line in path.read_text().splitlines() if not line.startswith("#"))
    names = {env_name(role): role for role in ROLES}
    return {names[name]: value for name, _, value in pairs if name in names and value}


def prepare_book(ledger_dir: Path, url: str) -> None:
    """Import the simulated history into the SQL ledger once (the service then starts from it)."""
    import time

    from tqdm import tqdm

    from ledger.book import Book
    from ledger.database import open_ledger
    from ledger.imports import import_ledger
    from ledger.tables import load_ledger
    from ledger.views import customer_row

    book = Book(open_ledger(url))
    ledger = load_ledger(ledger_dir)
    if customer_row(book.engine, str(ledger.customers["customer_id"].iloc[-1])) is not None:
        print(f"[demo] ledger database already holds the history ({url})")
        return
    t0 = time.perf_counter()
    with tqdm(unit="event", desc="[demo] import") as bar:
        report = import_ledger(book, ledger, received_us=time.time_ns() // 1000, progress=bar.update)
    print(f"[demo] imported {report.applied:,} events into {url} in {time.perf_counter() - t0:.1f} s")


def _example_customer(ledger_dir: Path) -> tuple[dict[str, str], str]:
    """The record of a customer with history and one of its open invoices, for the curl examples."""
    from ledger.tables import load_ledger

    ledger = load_ledger(ledger_dir)
    inv = ledger.invoices
    open_ = inv[inv["paid_at"].isna() & inv["written_off_at"].isna()]
    busiest = inv.loc[inv["customer_id"].isin(open_["customer_id"]), "customer_id"].value_counts()
    record = ledger.customers.set_index("customer_id").loc[busiest.index[len(busiest) // 3]]
    invoice = open_.loc[open_["customer_id"] == record.name, "invoice_id"].iloc[0]
    return {"id": str(record.name), **{k: str(record[k]) for k in ("type", "country", "profile", "size")}}, invoice


def run(args: argparse.Namespace) -> int:
    from training.registry import tracking_uri as resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    ledger_dir = prepare_ledger(args)
    prepare_champion(ledger_dir, tracking_uri, args.seed)
    ledger_url = f"sqlite:///{(args.dir / 'ledger.db').resolve()}"
    prepare_book(ledger_dir, ledger_url)
    keys_file = args.dir / KEYS_FILE
    prepare_keys(ledger_url, keys_file)
    if args.no_serve:
        print("[demo] prepared; not serving (--no-serve)")
        return 0

    from serving.app import create_app
    from serving.config import load as load_config

    import secrets

    app = create_app({"MLFLOW_TRACKING_URI": tracking_uri, "REDIS_URL": None,
                      "AUDIT_URL": f"sqlite:///{(args.dir / 'audit.db').resolve()}", "LEDGER_URL": ledger_url,
                      # one process: a random session secret is enough (sign in again after a restart)
                      "SECRET_KEY": load_config()["SECRET_KEY"] or secrets.token_urlsafe(32)})
    warmed = app.extensions["kredo.runtime"].keeper.warmed
    print(f"[demo] feature store warmed from the ledger: {warmed['applied']:,} events in {warmed['seconds']} s")
    customer, invoice = _example_customer(ledger_dir)
    base = f"http://{args.host}:{args.port}"
    print(f"[demo] serving on {base} (Ctrl-C to stop); the pages: {base}/login with a person's key "
          f"($KREDO_KEY_CREDIT_MANAGER, $KREDO_KEY_COLLECTOR, ...). Try:\n"
          f"{curl_examples(base, customer, invoice, keys_file)}")
    app.run(host=args.host, port=args.port, threaded=True)
    return 0
