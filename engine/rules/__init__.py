"""Declarative credit and dunning policies, compiled onto durable-rules.

Public surface::

    load_policy(path) -> Policy          # validated, or PolicyError with file/line/hint
    check_policy(path) -> Report         # every finding (what `kredo rules check` prints)
    RuleEngine(policy)                   # .evaluate_checkout(facts), .evaluate_dunning(facts, now)
    PolicyHolder(path)                   # .current, .reload() for hot reload

See ``rules/README.md`` for the file format and ``durable.py`` for the
durable-rules workarounds.
"""
from engine.rules.check import Report, check_policy, load_policy
from engine.rules.durable import RulesFault
from engine.rules.engine import CheckoutOutcome, DunningOutcome, Reason, RuleEngine, SendWindow
from engine.rules.holder import PolicyHolder, ReloadResult
from engine.rules.model import Finding, Policy

__all__ = [
    "CheckoutOutcome", "DunningOutcome", "Finding", "Policy", "PolicyHolder", "Reason", "ReloadResult",
    "Report", "RuleEngine", "RulesFault", "SendWindow", "check_policy", "load_policy",
]
