"""The experiments page in Chromium: per context each arm's pulls, reward rate with its interval and current
allocation, the bandit's uplift over control, as the live state holds them (``engine.bandits.report``); the
off-policy estimate of a candidate on a logged ledger, as ``kredo bandit evaluate`` computes it; auditors
read, a collector gets 403."""
from __future__ import annotations

import numpy as np
import pytest

from engine.bandits import all_arms
from engine.bandits.context import Context
from engine.bandits.offline import evaluate_on_ledger
from engine.bandits.report import experiment_report
from ledger.tables import save_ledger
from tests.pages.conftest import serve, signed_in_to
from tests.support.api import make_app
from tests.support.pages import cells, shot

SEGMENTS = ("high", "medium", "low")


@pytest.fixture(scope="module")
def bandit_site(champion, small_ledger, small_ledger_db, tmp_path_factory):  # noqa: ANN001, ANN201
    """An app whose experiment has learnt from 600 rewarded reminders (seeded), with the small ledger's log
    for off-policy estimates."""
    logged = tmp_path_factory.mktemp("ope") / "ledger"
    save_ledger(small_ledger, logged)
    app = make_app(champion, tmp_path_factory.mktemp("experiments-app"), history=small_ledger_db,
                   REPLAY_LEDGER=str(logged))
    bandit = app.extensions["kredo.runtime"].bandit
    rng, arms = np.random.default_rng(5), all_arms()
    for i in range(600):
        context = Context(profile=("adult", "sme")[i % 2], segment=SEGMENTS[i % 3])
        arm = arms[int(rng.integers(0, 4))]
        reward = float(rng.random() < 0.2 + 0.1 * (arm == arms[0]))
        group = "control" if i % 10 == 0 else "bandit"
        bandit.experiment.policy_for(group).update(context, arm, reward, event_id=f"seed-{i}")
        bandit.attribution.state.increment(f"exp:{bandit.experiment.name}:{group}", {"n": 1.0, "s": reward})
    with serve(app) as url:
        yield {"url": url, "app": app, "ledger": logged, "small_ledger": small_ledger}


@pytest.fixture()
def as_role(browser, bandit_site):  # noqa: ANN001, ANN201
    with signed_in_to(browser, bandit_site) as open_as:
        yield open_as



def test_the_arms_and_the_uplift_are_the_live_states(as_role, bandit_site) -> None:  # noqa: ANN001
    page = as_role("analyst")
    page.click("header nav >> text=Experiments")
    page.wait_for_url("**/experiments")
    shot(page, "experiments-analyst")
    bandit = bandit_site["app"].extensions["kredo.runtime"].bandit
    report = experiment_report(bandit.experiment, bandit.attribution, SEGMENTS)
    assert len(report.contexts) == 6 and sum(c.pulls for c in report.contexts) == 540  # the bandit group's
    shown = [int(v) for v in cells(page, "arms", "pulls")]
    assert sum(shown) == 540
    assert [a.pulls for c in report.contexts for a in c.arms if a.pulls or a.allocation >= 0.01] == shown
    rates = [float(v) for v in cells(page, "arms", "rate") if v]
    assert all(0 <= r <= 1 for r in rates)
    uplift = page.locator("[data-figure=uplift]")
    assert float(uplift.get_attribute("data-value")) == pytest.approx(report.uplift.value)
    assert float(uplift.get_attribute("data-low")) < report.uplift.value < float(uplift.get_attribute("data-high"))
    assert [float(v) for v in cells(page, "groups", "reminders")] == [540.0, 60.0]
    assert page.problems == []


def test_an_off_policy_estimate_of_a_candidate(as_role, bandit_site) -> None:  # noqa: ANN001
    page = as_role("auditor")
    page.goto("/experiments")
    page.select_option("#candidate", "static")
    page.click("[data-action=estimate]")
    page.wait_for_url("**/experiments?candidate=static")
    shot(page, "experiments-ope-static")
    expected = evaluate_on_ledger(bandit_site["small_ledger"], "static")
    for name, e in expected["estimates"].items():
        assert float(page.locator(f"[data-estimator={name}]").get_attribute("data-value")) == pytest.approx(e["value"])
    assert page.problems == []


def test_a_collector_may_not_see_it_and_a_bad_candidate_is_refused(as_role, bandit_site) -> None:  # noqa: ANN001
    assert as_role("collector").goto("/experiments").status == 403
    assert as_role("analyst").goto("/experiments?candidate=nonsense").status == 422
