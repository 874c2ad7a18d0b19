"""A seeded, vectorised order-to-cash ledger simulator.

Why: models, rules, bandits and the online store all need a ledger with known
truth: customers with hidden payment behaviour, invoices, (partial) payments,
disputes, write-offs, a recession that shifts lateness in some sectors (drift),
and logged reminders whose outcome follows :mod:`.response` exactly. Every draw
comes from one ``numpy`` generator seeded by ``SimulationConfig.seed``, so the
same seed gives byte-identical tables.

Example::

    ledger = simulate(SimulationConfig(customers=2_000, months=12, seed=7))
    summarize(ledger)["share_paid_late"]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from domain.vocabulary import CHANNELS, DAY_TYPES, SLOT_HOURS, SLOTS, TONES
from engine.bandits import all_arms

from ledger.tables import Ledger
from training.simulation.response import PAY_AFTER_MIN_DAYS, WINDOW_DAYS, after_reminder, response_probability

DAY = np.timedelta64(86_400, "s")
SECTORS = ("retail", "construction", "hospitality", "wholesale", "manufacturing", "services", "transport")
SHOCK_SECTORS = ("construction", "hospitality", "retail")
COUNTRIES = (("NL", 0.6), ("BE", 0.15), ("DE", 0.15), ("FR", 0.05), ("GB", 0.05))
REMINDER_OFFSETS_DAYS = (7, 21, 35)  # the logging policy's ladder after the due date
WRITE_OFF_AFTER_DAYS = 180
DISPUTE_REASONS = ("quality", "delivery", "price", "duplicate", "other")
_LATEST_HOUR = max(SLOT_HOURS.values())  # the last slot's send hour

# Per profile: liquidity Beta(a, b), response means per channel (email, sms,
# whatsapp, letter, phone), peak hour, weekend affinity mean.
_PROFILES = {
    "student": ((2.0, 2.5), (0.0, 0.4, 0.9, -0.8, -0.6), 19.0, 0.4),
    "young_family": ((3.0, 2.0), (0.3, 0.5, 0.4, -0.4, -0.2), 20.0, 0.2),
    "adult": ((4.0, 2.0), (0.4, 0.2, 0.0, 0.0, 0.1), 13.0, 0.0),
    "60_plus": ((5.0, 1.5), (-0.3, -0.4, -0.9, 0.7, 0.6), 10.0, 0.1),
    "sme": ((3.0, 2.0), (0.5, 0.0, -0.2, -0.2, 0.5), 10.0, -0.6),
    "enterprise": ((6.0, 1.5), (0.6, -0.6, -0.8, 0.1, 0.3), 11.0, -0.9),
}
_INVOICES_PER_MONTH = {"consumer": 0.3, "small": 0.8, "medium": 2.0, "large": 5.0}
_AMOUNT_LOG_MEAN = {"consumer": (np.log(120.0), 0.8), "small": (np.log(800.0), 0.9),
                    "medium": (np.log(3000.0), 0.9), "large": (np.log(15000.0), 1.0)}
_TERMS = {"consumer": ((14, 30), (0.5, 0.5)), "small": ((14, 30), (0.2, 0.8)),
          "medium": ((14, 30, 60), (0.1, 0.6, 0.3)), "large": ((30, 60), (0.4, 0.6))}


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. ``shock`` is the recession window as fractions of the period."""

    customers: int = 20_000
    months: int = 24
    seed: int = 7
    start: str = "2024-01-01"
    shock: tuple[float, float] = (0.55, 0.8)

    def __post_init__(self) -> None:
        if self.customers < 1 or self.months < 1:
            raise ValueError("customers and months must be positive")


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}-{i:08d}" for i in range(1, n + 1)], dtype=object)


def _choice(rng: np.random.Generator, options: tuple, probs: tuple, n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=probs)]


def _secs(days: np.ndarray) -> np.ndarray:
    """Float days to whole-second timedeltas."""
    return (np.asarray(days) * 86_400).astype(np.int64).astype("timedelta64[s]")


def _customers(cfg: SimulationConfig, rng: np.random.Generator, start: np.datetime64,
               end: np.datetime64) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = cfg.customers
    business = rng.random(n) < 0.55
    country = _choice(rng, tuple(c for c, _ in COUNTRIES), tuple(p for _, p in COUNTRIES), n)
    sector = np.where(business, _choice(rng, SECTORS, (1 / len(SECTORS),) * len(SECTORS), n), "consumer")
    size = np.where(business, _choice(rng, ("small", "medium", "large"), (0.6, 0.3, 0.1), n), "consumer")
    consumer_profile = _choice(rng, ("student", "young_family", "adult", "60_plus"), (0.15, 0.3, 0.35, 0.2), n)
    profile = np.where(business, np.where(size == "large", "enterprise", "sme"), consumer_profile)
    key_account = (size == "large") | ((size == "medium") & (rng.random(n) < 0.1))
    manager = np.where(key_account, np.char.add("AM-", np.char.zfill(rng.integers(1, 21, n).astype(str), 2)),
                       None).astype(object)
    u = rng.random((n, 6))
    paperless = u[:, 0] < np.where(business, 0.8, np.where(profile == "60_plus", 0.35, 0.6))
    consent = {
        "email": u[:, 1] < np.where(profile == "60_plus", 0.7, 0.95),
        "sms": u[:, 2] < np.where(business, 0.4, 0.6),
        "whatsapp": u[:, 3] < np.select([profile == "student", profile == "60_plus", business], [0.7, 0.1, 0.2], 0.35),
        "letter": np.ones(n, dtype=bool),
        "phone": u[:, 4] < np.where(business, 0.85, 0.6),
    }
    new = u[:, 5] < 0.2
    span = (end - start) / np.timedelta64(1, "D")
    joined = np.where(new, rng.random(n) * (span - 30), -rng.random(n) * 4 * 365)
    created = start + _secs(joined)
    customer_id = _ids("C", n)
    customers = pd.DataFrame({
        "customer_id": customer_id, "type": np.where(business, "business", "consumer").astype(object),
        "country": country, "sector": sector.astype(object), "size": size.astype(object),
        "profile": profile.astype(object), "account_manager": manager, "key_account": key_account,
        "paperless": paperless, **{f"consent_{c}": consent[c] for c in CHANNELS},
        "created_at": created.astype("datetime64[us]"),
    })

    ab = np.array([_PROFILES[p][0] for p in profile])
    means = np.array([_PROFILES[p][1] for p in profile])
    traits = pd.DataFrame({
        "customer_id": customer_id,
        "liquidity": rng.beta(ab[:, 0], ab[:, 1]),
        "forgetfulness": rng.beta(2.0, 5.0, n),
        "dispute_propensity": rng.beta(1.0, np.where(business, 40.0, 80.0)),
        **{f"resp_{c}": means[:, i] + rng.normal(0.0, 0.5, n) for i, c in enumerate(CHANNELS)},
        "peak_hour": np.clip(np.array([_PROFILES[p][2] for p in profile]) + rng.normal(0, 2.5, n), 7, 22),
        "weekend_affinity": np.array([_PROFILES[p][3] for p in profile]) + rng.normal(0, 0.4, n),
        "firm_effect": rng.normal(-0.1, 0.4, n),
    })
    return customers, traits


def _by_size(values: dict, size: np.ndarray, pick) -> np.ndarray:
    out = np.empty(len(size), dtype=object)
    for key, val in values.items():
        m = size == key
        if m.any():
            out[m] = pick(val, int(m.sum()))
    return out


def simulate(cfg: SimulationConfig = SimulationConfig()) -> Ledger:
    """Simulate a ledger; events after the end of the period are not observed."""
    return simulate_with_truth(cfg)[0]


def simulate_with_truth(cfg: SimulationConfig = SimulationConfig()) -> tuple[Ledger, pd.DataFrame]:
    """The ledger and, hidden like ``traits``, each invoice's payment truth in days after its due date:
    ``natural_days`` without any reminder (disputes' waits included; inf: never paid) and ``logged_days``
    after the logging policy's reminders (what the ledger shows, before the period's end cuts it).

    Why: a closed loop (``training.simulation.closed_loop``) replays a window of the period under another
    dunning policy and needs what the customers would have done unreminded."""
    rng = np.random.default_rng(cfg.seed)
    start = np.datetime64(cfg.start, "s")
    end = np.datetime64(pd.Timestamp(cfg.start) + pd.DateOffset(months=cfg.months), "s")
    customers, traits = _customers(cfg, rng, start, end)

    # Invoices: Poisson counts over each customer's active months.
    first = np.maximum(customers["created_at"].to_numpy().astype("datetime64[s]"), start)
    active_days = (end - first) / np.timedelta64(1, "D")
    size = customers["size"].to_numpy()
    rate = np.array([_INVOICES_PER_MONTH[s] for s in size])
    counts = rng.poisson(rate * active_days / 30.44)
    cust = np.repeat(np.arange(cfg.customers), counts)
    issued = first[cust] + _secs(rng.random(len(cust)) * active_days[cust])
    order = np.lexsort((cust, issued))
    cust, issued = cust[order], issued[order]
    n = len(cust)
    csize = size[cust]

    amount = np.round(np.exp(_by_size(_AMOUNT_LOG_MEAN, csize,
                                      lambda v, k: rng.normal(v[0], v[1], k)).astype(float)), 2)
    amount = np.maximum(amount, 5.0)
    terms = _by_size(_TERMS, csize, lambda v, k: rng.choice(v[0], size=k, p=v[1])).astype(np.int64)
    due = issued + terms * DAY

    tr = traits.iloc[cust].reset_index(drop=True)
    liquidity, forgetful = tr["liquidity"].to_numpy(), tr["forgetfulness"].to_numpy()
    span = (end - start).astype(np.int64)
    frac = (issued - start).astype(np.int64) / span
    shock = np.isin(customers["sector"].to_numpy()[cust], SHOCK_SECTORS) & (frac >= cfg.shock[0]) & (frac < cfg.shock[1])
    typical = np.exp(np.array([_AMOUNT_LOG_MEAN[s][0] for s in csize]))
    rel = np.log(amount / typical)
    liq = liquidity - 0.25 * shock + rng.normal(0, 0.05, n)

    # Natural payment (without reminders): on time, or late with a long tail; some default.
    z = 4.0 * (liq - 0.4) - 2.2 * forgetful + 0.6 - 1.0 * shock - 0.2 * rel
    on_time = rng.random(n) < 1.0 / (1.0 + np.exp(-z))
    early = -terms * rng.beta(1.2, 3.0, n)
    late = rng.lognormal(2.2 + 1.5 * (0.5 - liq) + 0.5 * shock, 0.9, n)
    natural = np.where(on_time, early, late)
    default = rng.random(n) < 0.04 * np.clip(1.0 - liq, 0, 1) ** 3 * (1.0 + 2.0 * shock)
    natural = np.where(default, np.inf, natural)
    paid_at_days = np.where(np.isinf(natural), np.inf, natural)  # days after due

    # Disputes: payment waits for resolution; no reminders for disputed invoices.
    disputed = rng.random(n) < tr["dispute_propensity"].to_numpy() * (1.0 + 0.5 * (rel > 1.0))
    opened = issued + _secs(rng.uniform(2, 25, n))
    resolved_days = rng.gamma(2.0, 10.0, n)
    never = rng.random(n) < 0.1
    resolved = np.where(never, np.datetime64("NaT"), opened + _secs(resolved_days))
    after_resolution = (resolved - due) / np.timedelta64(1, "D") + rng.uniform(1, 10, n)
    paid_at_days = np.where(disputed, np.where(never, np.inf, np.maximum(paid_at_days, after_resolution)),
                            paid_at_days)

    natural_days = paid_at_days
    reminders = _reminders(rng, customers, tr, cust, due, paid_at_days, ~disputed, end)
    paid_at_days = reminders.pop("paid_at_days")

    written_off = paid_at_days > WRITE_OFF_AFTER_DAYS
    written_off_at = np.where(written_off, due + WRITE_OFF_AFTER_DAYS * DAY, np.datetime64("NaT"))
    paid_at = np.where(written_off, np.datetime64("NaT"),
                       due + _secs(np.where(written_off, 0.0, paid_at_days)))
    paid_at = np.maximum(paid_at, issued + np.timedelta64(3600, "s"))  # never before issue

    # Partial payments: some paid invoices (and some written off) got part earlier.
    partial = rng.random(n) < np.where(written_off, 0.4, 0.1)
    final_at = np.where(written_off, written_off_at, paid_at)
    part_at = issued + ((final_at - issued).astype(np.int64) * rng.uniform(0.2, 0.8, n)).astype("timedelta64[s]")
    part_share = np.round(rng.uniform(0.2, 0.7, n), 2)
    part_amount = np.round(amount * part_share, 2)

    invoice_id = _ids("INV", n)
    customer_id = customers["customer_id"].to_numpy()[cust]
    invoices = pd.DataFrame({
        "invoice_id": invoice_id, "customer_id": customer_id,
        "issued_at": issued, "due_at": due, "amount": amount,
        "currency": np.full(n, "EUR", dtype=object), "payment_terms_days": terms,
        "paperless": customers["paperless"].to_numpy()[cust],
        "paid_at": paid_at, "written_off_at": written_off_at,
    })
    p_rows = [
        pd.DataFrame({"invoice_id": invoice_id[partial], "customer_id": customer_id[partial],
                      "paid_at": part_at[partial], "amount": part_amount[partial]}),
        pd.DataFrame({"invoice_id": invoice_id[~written_off], "customer_id": customer_id[~written_off],
                      "paid_at": paid_at[~written_off],
                      "amount": np.round(amount - np.where(partial, part_amount, 0.0), 2)[~written_off]}),
    ]
    payments = pd.concat(p_rows, ignore_index=True)
    disputes = pd.DataFrame({
        "invoice_id": invoice_id[disputed], "customer_id": customer_id[disputed],
        "opened_at": opened[disputed], "resolved_at": resolved[disputed],
        "reason": _choice(rng, DISPUTE_REASONS, (0.35, 0.25, 0.2, 0.1, 0.1), int(disputed.sum())),
    })
    rem = pd.DataFrame(reminders)
    truth = pd.DataFrame({"invoice_id": invoice_id, "natural_days": natural_days, "logged_days": paid_at_days})
    return _observe(Ledger(customers=customers, invoices=invoices, payments=payments,
                           disputes=disputes, reminders=rem, traits=traits), end), truth


def arm_delays_of(reminders: pd.DataFrame) -> np.ndarray:
    """Days from each logged reminder's decision to the send time every arm would have had (columns in
    ``all_arms`` order), by the simulator's own send rule: the first day of the arm's day type on or after
    the decision's day, at the slot's hour and the logged reminder's minute."""
    decided = reminders["decided_at"].to_numpy(dtype="datetime64[s]")
    sent = reminders["sent_at"].to_numpy(dtype="datetime64[s]")
    minute = (sent - sent.astype("datetime64[h]")).astype("timedelta64[s]")
    out = np.empty((len(reminders), len(all_arms())))
    for arm in all_arms():
        day = _next_day_type(decided, np.full(len(decided), arm.weekend)).astype("datetime64[s]")
        at = day + np.timedelta64(arm.hour * 3600, "s") + minute
        out[:, arm.index] = (at - decided) / np.timedelta64(1, "D")
    return out


def _next_day_type(t: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """Move each date to the first day (on or after it) of the wanted day type."""
    days = t.astype("datetime64[D]")
    wd = (days.astype(np.int64) + 3) % 7  # 0 = Monday
    to_weekday = np.where(wd >= 5, 7 - wd, 0)
    to_weekend = np.where(wd >= 5, 0, 5 - wd)
    return days + np.where(weekend, to_weekend, to_weekday).astype("timedelta64[D]")


def _reminders(rng, customers, tr, cust, due, paid_days, remindable, end) -> dict:
    """The logging policy: uniform over allowed arms at each ladder step.

    Each reminder's outcome is drawn from the ground truth; success moves the
    payment into the 7-day window, failure pushes it past the window.

    Which invoices a step reminds must not depend on the arm drawn, or the
    logged propensity 1/|allowed| is not the probability of the logged arm
    given that the row is in the log. The arm fixes the send time (a weekend
    arm drawn on a Monday waits until Saturday), so a step is logged only for
    invoices still unpaid, and with their 7-day window still inside the
    period, at the latest time any arm could have been sent (the evening of
    the later of the next weekday and the next weekend day, same minute).
    Keeping a reminder only when the invoice is unpaid at its own arm's send
    time made weekend arms 7-10 % rarer than logged. Logging cancelled
    reminders too would be the other honest log, but their outcome (paid
    before any reminder went out) is not the response ``response_probability``
    scores, so the logged rewards and the ground truth would part.
    """
    n = len(cust)
    consent = np.column_stack([customers[f"consent_{c}"].to_numpy()[cust] for c in CHANNELS])
    n_allowed = consent.sum(axis=1)
    paid_days = paid_days.copy()
    out: dict[str, list] = {k: [] for k in ("invoice", "decided", "sent", "step", "channel", "slot", "day_type",
                                             "propensity", "paid")}
    remaining = remindable.copy()
    for step, offset in enumerate(REMINDER_OFFSETS_DAYS, start=1):
        u = rng.random((n, 4))
        pick = np.minimum((u[:, 0] * n_allowed).astype(np.int64), n_allowed - 1)
        channel = np.argmax(np.cumsum(consent, axis=1) > pick[:, None], axis=1)
        slot = np.minimum((u[:, 1] * len(SLOTS)).astype(np.int64), len(SLOTS) - 1)
        weekend = u[:, 2] < 0.5
        hour = np.asarray([SLOT_HOURS[s] for s in SLOTS])[slot]
        minute = (u[:, 3] * 3600).astype(np.int64)
        ladder_day = due + offset * DAY
        decided = ladder_day.astype("datetime64[D]").astype("datetime64[s]")  # the day's dunning run decides
        day = _next_day_type(ladder_day, weekend)
        sent = day.astype("datetime64[s]") + (hour * 3600 + minute).astype("timedelta64[s]")
        sent_days = (sent - due) / np.timedelta64(1, "D")
        latest_day = np.maximum(*(_next_day_type(ladder_day, np.full(n, w)) for w in (False, True)))
        latest = latest_day.astype("datetime64[s]") + (_LATEST_HOUR * 3600 + minute).astype("timedelta64[s]")
        latest_days = (latest - due) / np.timedelta64(1, "D")
        active = remaining & (paid_days > latest_days) & (latest + WINDOW_DAYS * DAY <= end)
        idx = np.flatnonzero(active)
        weekday = (day[idx].astype(np.int64) + 3) % 7
        p = response_probability(tr.iloc[idx], channel[idx], hour[idx], weekday,
                                 np.full(len(idx), step - 1), step)
        success = rng.random(len(idx)) < p
        window = rng.uniform(PAY_AFTER_MIN_DAYS, WINDOW_DAYS, len(idx))
        delay = (sent[idx] - decided[idx]) / np.timedelta64(1, "D")
        paid_days[idx] = after_reminder(paid_days[idx], sent_days[idx], success, window)
        remaining[idx[success]] = False
        remaining &= active
        out["invoice"].append(idx)
        out["decided"].append(decided[idx])
        out["sent"].append(sent[idx])
        out["step"].append(np.full(len(idx), step))
        out["channel"].append(channel[idx])
        out["slot"].append(slot[idx])
        out["day_type"].append(weekend[idx].astype(np.int64))
        out["propensity"].append(1.0 / (n_allowed[idx] * len(SLOTS) * len(DAY_TYPES)))
        out["paid"].append(success & (window <= WINDOW_DAYS - delay))  # the reward counts from the decision
    cat = {k: np.concatenate(v) for k, v in out.items()}
    order = np.lexsort((cat["invoice"], cat["sent"]))
    cat = {k: v[order] for k, v in cat.items()}
    return {
        "reminder_id": _ids("REM", len(order)),
        "invoice_idx": cat["invoice"],
        "decided_at": cat["decided"],
        "sent_at": cat["sent"],
        "step": cat["step"].astype(np.int64),
        "channel": np.asarray(CHANNELS, dtype=object)[cat["channel"]],
        "slot": np.asarray(SLOTS, dtype=object)[cat["slot"]],
        "day_type": np.asarray(DAY_TYPES, dtype=object)[cat["day_type"]],
        "tone": np.asarray(TONES, dtype=object)[cat["step"] - 1],
        "propensity": cat["propensity"],
        "paid_within_7d": cat["paid"],
        "paid_at_days": paid_days,
    }


def _observe(ledger: Ledger, end: np.datetime64) -> Ledger:
    """Cut everything at the end of the period: the future is not observed."""
    cutoff = pd.Timestamp(end)
    inv = ledger.invoices
    for col in ("paid_at", "written_off_at"):
        inv[col] = inv[col].where(inv[col] <= cutoff).astype("datetime64[us]")
    for col in ("issued_at", "due_at"):
        inv[col] = inv[col].astype("datetime64[us]")
    pay = ledger.payments
    pay = pay[pay["paid_at"] <= cutoff].sort_values(["paid_at", "invoice_id"], kind="stable")
    pay.insert(0, "payment_id", _ids("PAY", len(pay)))
    pay["paid_at"] = pay["paid_at"].astype("datetime64[us]")
    dis = ledger.disputes
    dis = dis[dis["opened_at"] <= cutoff].sort_values(["opened_at", "invoice_id"], kind="stable")
    dis["resolved_at"] = dis["resolved_at"].where(dis["resolved_at"] <= cutoff)
    dis.insert(0, "dispute_id", _ids("DSP", len(dis)))
    for col in ("opened_at", "resolved_at"):
        dis[col] = dis[col].astype("datetime64[us]")
    rem = ledger.reminders
    idx = rem.pop("invoice_idx").to_numpy()
    rem.insert(1, "invoice_id", inv["invoice_id"].to_numpy()[idx])
    rem.insert(2, "customer_id", inv["customer_id"].to_numpy()[idx])
    rem["sent_at"] = rem["sent_at"].astype("datetime64[us]")
    return Ledger(customers=ledger.customers, invoices=inv, payments=pay.reset_index(drop=True),
                  disputes=dis.reset_index(drop=True), reminders=rem, traits=ledger.traits)


def summarize(ledger: Ledger) -> dict[str, float]:
    """Headline statistics of a ledger (simulated or real)."""
    inv = ledger.invoices
    closed = inv["paid_at"].notna() | inv["written_off_at"].notna()
    days_late = (inv["paid_at"] - inv["due_at"]).dt.total_seconds() / 86_400
    late = (days_late > 0) | inv["written_off_at"].notna()
    paid_per_invoice = ledger.payments.groupby("invoice_id").size()
    return {
        "customers": float(len(ledger.customers)),
        "invoices": float(len(inv)),
        "share_paid_late": float(late[closed].mean()),
        "median_days_late": float(days_late[days_late > 0].median()),
        "p90_days_late": float(days_late[days_late > 0].quantile(0.9)),
        "dispute_rate": float(len(ledger.disputes) / max(len(inv), 1)),
        "write_off_rate": float(inv["written_off_at"].notna().mean()),
        "partial_payment_share": float((paid_per_invoice > 1).sum() / max(len(paid_per_invoice), 1)),
        "open_share": float((~closed).mean()),
        "reminders": float(len(ledger.reminders)),
        "reminder_paid_7d_rate": float(ledger.reminders["paid_within_7d"].mean())
        if len(ledger.reminders) else 0.0,
    }
