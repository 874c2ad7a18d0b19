"""Statement matching on a simulated statement: share matched, share unmatched, wrong matches (target 0), parse speed.

The statement is the simulated ledger's last ``--days`` of payments with the
generator's noise (training/simulation/statements.py), written as CAMT.053 and
as MT940; every matched line is checked against the generator's truth (the
invoices and amounts it really pays). A wrong match is any match whose
allocations or unallocated rest differ from the truth. Parse speed is the best
of ``--repeat`` runs (lines per second, the file in memory).

Usage: python bench/matching.py [--customers 3000] [--days 30] [--seed 7] [--repeat 3] [--json]
"""
from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import parser, report  # noqa: E402
from engine.matching import Ignored, Match, match_lines  # noqa: E402
from ledger.statements import parse_camt053, parse_mt940  # noqa: E402
from training.simulation import SimulationConfig, simulate  # noqa: E402
from training.simulation.statements import StatementConfig, TrueLine, generate_statements  # noqa: E402


def score(results: list, truth: dict[str, TrueLine]) -> dict[str, Counter]:
    """Per noise kind: lines, matched, wrong, unmatched, ignored."""
    kinds: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        t = truth[r.line.line_id]
        c = kinds[t.kind]
        c["lines"] += 1
        if isinstance(r, Match):
            right = ({(a.invoice_id, a.amount) for a in r.allocations} == set(t.allocations)
                     and r.unallocated == t.unallocated)
            c["matched" if right else "wrong"] += 1
        elif isinstance(r, Ignored):
            c["ignored"] += 1
        else:
            c["unmatched"] += 1
    return kinds


def timed_parse(parse, data, repeat: int) -> tuple[list, float]:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        statements = parse(data)
        best = min(best, time.perf_counter() - t0)
    return [ln for s in statements for ln in s.lines], best


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--customers", type=int, default=3_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    ledger = simulate(SimulationConfig(customers=args.customers, months=12, seed=args.seed))
    t0 = time.perf_counter()
    generated = generate_statements(ledger, StatementConfig(seed=args.seed, window_days=args.days))
    t_generate = time.perf_counter() - t0
    figures: dict = {"customers": args.customers, "days": args.days,
                     "open_invoices": sum(inv.open_amount > 0 for inv in generated.receivables.invoices),
                     "generate_s": round(t_generate, 3)}
    per_kind: dict[str, Counter] = {}
    for name, parse, data, truth in (("camt053", parse_camt053, generated.camt053, generated.truth_camt053),
                                     ("mt940", parse_mt940, generated.mt940, generated.truth_mt940)):
        lines, seconds = timed_parse(parse, data, args.repeat)
        t1 = time.perf_counter()
        results = match_lines(lines, generated.receivables)
        t_match = time.perf_counter() - t1
        kinds = score(results, truth)
        total = sum(kinds.values(), Counter())
        credits = total["lines"] - total["ignored"]
        figures.update({
            f"{name}_lines": len(lines), f"{name}_bytes": len(data),
            f"{name}_parse_lines_per_s": round(len(lines) / seconds, 1),
            f"{name}_match_lines_per_s": round(len(lines) / t_match, 1),
            f"{name}_credits": credits,
            f"{name}_auto_matched_share": round(total["matched"] / credits, 4),
            f"{name}_unmatched_share": round(total["unmatched"] / credits, 4),
            f"{name}_wrong_matches": total["wrong"],
        })
        per_kind = per_kind or kinds
        if name == "mt940":
            figures["formats_agree"] = all(kinds[k] == per_kind[k] for k in kinds)
    for kind in sorted(per_kind):
        c = per_kind[kind]
        figures[f"kind {kind}"] = (f"{c['lines']} lines: {c['matched']} matched, {c['unmatched']} unmatched, "
                                   f"{c['ignored']} ignored, {c['wrong']} wrong")
    report("statement matching", figures, args.json)


if __name__ == "__main__":
    main()
