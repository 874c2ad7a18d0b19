"""``kredo rules check [FILE]``: validate a policy file, print every finding with its line, and show the
risk segments it decides (at checkout and in dunning alike)."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="policy files: check")
    rsub = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    c = rsub.add_parser("check", help="validate a policy (schema, fields, never-firing, overlaps, gaps, tests)")
    c.add_argument("file", nargs="?", help="policy file (YAML or JSON); default: the packaged default policy")
    c.add_argument("--json", action="store_true", help="print the findings as one JSON line")
    c.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 when the policy can be loaded (warnings allowed), 1 when it has errors."""
    from domain.resources import DEFAULT_POLICY, locate
    from engine.rules import check_policy

    args.file = args.file or str(locate(DEFAULT_POLICY))
    report = check_policy(args.file)
    for finding in report.findings:
        print(finding)
    if report.ok:
        assert report.policy is not None
        print(f"OK: {args.file} version {report.policy.version}, {len(report.policy.rule_ids())} rules, "
              f"{len(report.policy.cases)} test cases, sha256 {report.policy.content_hash[:12]}")
        segments = report.policy.tables["risk_segments"]
        print(f"risk segments (risk_segments, hit {segments.hit}; checkout and dunning):")
        for row in segments.rows:
            print(f"  {row.id}: when {row.when.source} -> {row.sets['segment']}")
    else:
        print(f"REFUSED: {args.file} has {len(report.errors)} error(s); it will not be loaded")
    if args.json:
        print(json.dumps({"ok": report.ok, "findings": [f.to_dict() for f in report.findings]}))
    return 0 if report.ok else 1
