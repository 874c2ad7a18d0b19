"""The models page (analyst; auditors may read): champion and challenger side by side, promotion history,
and promote / rollback through the CLI's gate.

Why no figures of its own: everything shown is what the versions' training runs
logged (``training.catalog``: the test metrics of the model and the baselines on
the same months, the ROC and calibration numbers and the global SHAP importance
of ``curves.json``), drawn as SVG; the buttons call ``training.registry.promote``
and ``rollback`` (what ``kredo models promote|rollback`` calls), then reload the
service so the new champion serves at once. A refusal of the gate is shown with
its reason.
"""
from __future__ import annotations

from typing import Any

from flask import flash, redirect
from flask_babel import gettext as _

from domain.errors import KredoError
from serving.access import caller, requires
from serving.pages import charts
from serving.pages.exports import Column, Table, respond
from serving.pages.layout import blueprint
from serving.runtime import get_runtime
from training import catalog, registry

bp = blueprint("pages_models", __name__)
READERS = ("analyst", "auditor")


def _tracking() -> str:
    return get_runtime().config["MLFLOW_TRACKING_URI"]


def _comparison(entries: dict[str, catalog.Entry | None]) -> Table:
    """One row per (version, scored model), one column per figure: the model against its baselines."""
    rows = []
    for alias, entry in entries.items():
        if entry is None:
            continue
        for model in catalog.SCORED:
            if model in entry.metrics:
                rows.append({"alias": alias, "version": entry.version, "model": model,
                             **{figure: entry.metrics[model].get(figure) for figure, _ in catalog.FIGURES}})
    return Table("comparison", _("Test months: the model against the baselines"), [
        Column("alias", _("Alias")), Column("version", _("Version")), Column("model", _("Scored model")),
        *(Column(figure, figure, "num") for figure, _ in catalog.FIGURES)], rows,
        note=_("Each version's run scored it, the baselines and the champion of that day on its own test months; "
               "ROC-AUC: higher is better; Brier, ECE, MAE and pinball loss: lower is better."))


def _best_baseline(entry: catalog.Entry | None) -> dict[str, float | None]:
    """Per figure, the best of the baselines' values (highest or lowest, as the figure reads)."""
    out: dict[str, float | None] = {}
    for figure, better in catalog.FIGURES:
        values = [entry.metrics[b][figure] for b in catalog.BASELINES
                  if entry is not None and figure in entry.metrics.get(b, {})]
        out[figure] = (max if better == "higher" else min)(values) if values else None
    return out


def _charts(entry: catalog.Entry | None) -> dict[str, Any] | None:
    if entry is None or entry.curves is None:
        return None
    models = entry.curves["models"]
    return {"roc": charts.curves([(name, [tuple(p) for p in m["roc"]]) for name, m in models.items() if m["roc"]],
                                 title=_("ROC of P(late)")),
            "calibration": charts.curves([(name, [(b[0], b[1]) for b in m["calibration"]])
                                          for name, m in models.items()], title=_("Calibration of P(late)"), dots=True),
            "shap": charts.hbars([charts.Bar(name, value) for name, value in entry.curves["shap_importance"]],
                                 title=_("Global SHAP importance of P(late)"), label=lambda v: f"{v:.3f}")}


@bp.get("/models")
@requires(*READERS)
def models_page() -> Any:  # noqa: ANN401 - a page or a CSV
    entries = catalog.champion_and_challenger(_tracking())
    history = Table("history", _("Versions and promotions"), [
        Column("version", _("Version")), Column("aliases", _("Aliases")), Column("promoted_at", _("Promoted")),
        Column("rolled_back_at", _("Rolled back")), Column("former_champion", _("Champion before"), "bool")],
        catalog.history(_tracking()))
    return respond("pages/models.html", [_comparison(entries), history], title=_("Models"), entries=entries,
                   charts={alias: _charts(e) for alias, e in entries.items()}, figures=catalog.FIGURES,
                   best={alias: _best_baseline(e) for alias, e in entries.items()},
                   may_change=caller().role == "analyst")


@bp.post("/models/promote")
@requires("analyst")
def promote() -> Any:  # noqa: ANN401 - a redirect
    return _move(lambda: registry.promote(_tracking()), "promoted")


@bp.post("/models/rollback")
@requires("analyst")
def rollback() -> Any:  # noqa: ANN401 - a redirect
    return _move(lambda: registry.rollback(_tracking()), "rolled_back")


def _move(step: Any, done: str) -> Any:  # noqa: ANN401
    """Run the gate's step; reload the service on success; back to the page, which says what happened."""
    try:
        result = step()
    except KredoError as refused:
        flash(refused.detail, "refused")
        return redirect("/models", 303)
    get_runtime().reload()
    flash(_("Version %(v)s is champion now (%(why)s).", v=result.version, why=result.reason), done)
    return redirect("/models", 303)
