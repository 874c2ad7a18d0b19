"""The policies page in Chromium: the live policy's tables, its versions and a diff between two, each table's
test cases with their result (as ``kredo rules check`` runs them), and a backtest of a draft against the live
policy with what changes (as ``kredo backtest`` computes it); auditors read, a collector gets 403."""
from __future__ import annotations

import pytest

from engine.rules import RuleEngine
from engine.rules.check import check_policy, load_policy, run_case
from ledger.tables import save_ledger
from tests.pages.conftest import serve, signed_in_to
from tests.support.api import make_app
from tests.support.pages import cells, shot
from training.backtest import backtest, model_scorer

LIVE = "rules/default.yaml"
#: the draft sends a business to review from 6 days overdue instead of 31
STRICTER = ('when: customer_type == "business" and max_days_overdue > 30',
            'when: customer_type == "business" and max_days_overdue > 5')


@pytest.fixture(scope="module")
def policy_site(champion, small_ledger, small_ledger_db, tmp_path_factory):  # noqa: ANN001, ANN201
    work = tmp_path_factory.mktemp("policies")
    save_ledger(small_ledger, work / "ledger")
    (work / "versions").mkdir()
    text = open(LIVE, encoding="utf-8").read()
    assert STRICTER[0] in text
    draft = text.replace(STRICTER[0], STRICTER[1]).replace('version: "2025.06-1"', 'version: "2026.12-draft"')
    (work / "versions" / "stricter.yaml").write_text(draft, encoding="utf-8")
    app = make_app(champion, tmp_path_factory.mktemp("policies-app"), history=small_ledger_db,
                   REPLAY_LEDGER=str(work / "ledger"), POLICY_VERSIONS=str(work / "versions"))
    with serve(app) as url:
        yield {"url": url, "app": app, "work": work, "ledger": small_ledger}


@pytest.fixture()
def as_role(browser, policy_site):  # noqa: ANN001, ANN201
    with signed_in_to(browser, policy_site) as open_as:
        yield open_as



def test_the_live_policy_its_versions_and_its_test_cases(as_role) -> None:  # noqa: ANN001
    page = as_role("auditor")
    page.click("header nav >> text=Policies")
    page.wait_for_url("**/policies")
    shot(page, "policies-auditor")
    live = load_policy(LIVE)
    assert cells(page, "versions", "name") == ["live", "stricter"]
    assert cells(page, "versions", "version") == [live.version, "2026.12-draft"]
    assert cells(page, "rules_risk_segments", "id") == [r.id for r in live.tables["risk_segments"].rows]
    engine = RuleEngine(live)
    results = {case["name"]: not run_case(engine, case)[0] for case in live.cases}
    shown = dict(zip(cells(page, "cases", "case"), cells(page, "cases", "passed")))
    assert set(shown) == set(results) and all(v == "True" for v in shown.values()) and all(results.values())
    assert check_policy(LIVE).ok
    assert page.problems == []


def test_a_diff_and_a_backtest_of_the_draft(as_role, policy_site, champion) -> None:  # noqa: ANN001
    from training.registry import load_model

    page = as_role("analyst")
    page.goto("/policies")
    page.select_option("#diff", "stricter")
    page.select_option("#against", "live")
    page.select_option("#draft", "stricter")
    page.click("[data-action=show]")
    page.wait_for_url("**/policies?*draft=stricter*")
    shot(page, "policies-diff-backtest")
    removed = page.locator("pre.diff .removed").all_inner_texts()
    added = page.locator("pre.diff .added").all_inner_texts()
    assert any(STRICTER[1] in line for line in removed) and any(STRICTER[0] in line for line in added)
    model = load_model(champion["uri"], champion["tracking"])[0]
    expected = backtest(policy_site["ledger"], load_policy(policy_site["work"] / "versions" / "stricter.yaml"),
                        load_policy(LIVE), scorer=model_scorer(model), sample=2_000)
    changed = expected.decisions.groupby(["outcome_baseline", "outcome_new"]).size()
    assert [int(v) for v in cells(page, "changes", "decisions")] == changed.tolist()
    moved = int((expected.decisions["outcome_new"] != expected.decisions["outcome_baseline"]).sum())
    assert moved > 0  # a stricter review rule changes decisions
    assert len(cells(page, "customers", "customer_id")) == min(50, len(expected.changed_customers))
    assert page.problems == []


def test_refusals(as_role) -> None:  # noqa: ANN001
    assert as_role("collector").goto("/policies").status == 403
    assert as_role("analyst").goto("/policies?diff=nope").status == 404
