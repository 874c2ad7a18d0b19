"""Declarative credit and dunning policies, compiled onto durable-rules.

Public surface::

    load_policy(path) -> CreditPolicy    # validated, or PolicyError with file/line/hint
    check_policy(path) -> Report         # every finding (what `kredo rules check` prints)
    RuleEngine(policy)                   # .evaluate_checkout(facts), .evaluate_dunning(facts, now)
    PolicyHolder(path)                   # .current, .reload() for hot reload
    default_rules()                      # the packaged default policy, compiled once

See ``rules/README.md`` for the file format and ``durable.py`` for the
durable-rules workarounds.
"""
from functools import cache

from domain.resources import DEFAULT_POLICY, locate
from engine.rules.check import Report, check_policy, load_policy
from engine.rules.durable import RulesFault
from engine.rules.engine import CheckoutOutcome, DunningOutcome, Reason, RuleEngine, SendWindow
from engine.rules.holder import PolicyHolder, ReloadResult
from engine.rules.model import CreditPolicy, Finding



@cache
def default_rules() -> RuleEngine:
    """The packaged ``rules/default.yaml`` compiled once: the segments offline tools use when given no policy."""
    return RuleEngine(load_policy(locate(DEFAULT_POLICY)))


__all__ = [
    "CheckoutOutcome", "CreditPolicy", "DunningOutcome", "Finding", "PolicyHolder", "Reason", "ReloadResult",
    "Report", "RuleEngine", "RulesFault", "SendWindow", "check_policy", "default_rules", "load_policy",
]
