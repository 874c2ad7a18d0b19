"""Matching statement lines to invoices: every rule, and every way a wrong match could happen."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.matching import (
    MAX_SUBSET_STATES, Ignored, Invoice, Match, Receivables, Unmatched, evidence, match_lines, within_one_edit)
from ledger.statements import StatementLine
from ledger.statements.references import make_rf
from tests.engine.conftest import (
    IBAN_C1, IBAN_C1B, IBAN_C2, IBAN_C4, IBAN_C9, IBAN_P1, UNKNOWN_IBAN, invoice)

RF_1234, RF_1235 = make_rf("00001234"), make_rf("00001235")


def line(amount: str, iban: str | None = None, refs: tuple[str, ...] = (), text: str = "", *, n: int = 1,
         direction: str = "credit", reversal: bool = False, currency: str = "EUR") -> StatementLine:
    return StatementLine(line_id=f"S/{n}/1", statement_id="S", account="NL00OURS", entry_ref=str(n),
                         booking_date=dt.date(2024, 5, 2), value_date=dt.date(2024, 5, 2), amount=Decimal(amount),
                         currency=currency, direction=direction, counterparty_iban=iban, structured_refs=refs,
                         remittance=text, reversal=reversal)


def one(receivables: Receivables, *lines: StatementLine):
    results = match_lines(lines, receivables)
    return results[0] if len(results) == 1 else results


def allocated(result) -> dict[str, Decimal]:
    assert isinstance(result, Match), result
    return {a.invoice_id: a.amount for a in result.allocations}


# -- rule 1: structured reference -----------------------------------------------------------------

def test_structured_reference_full_payment(receivables):
    result = one(receivables, line("100.00", IBAN_C1, (RF_1234,)))
    assert allocated(result) == {"INV-00001234": Decimal("100.00")}
    assert (result.rule, result.kind, result.unallocated) == ("structured_reference", "full", 0)
    assert "INV-00001234" in result.reason and "C-1" in result.reason


def test_partial_payment_then_the_rest_by_iban_and_amount(receivables):
    first, rest = one(receivables, line("30.00", IBAN_C1, (RF_1234,), n=1), line("70.00", IBAN_C1, n=2))
    assert allocated(first) == {"INV-00001234": Decimal("30.00")} and first.kind == "partial"
    assert allocated(rest) == {"INV-00001234": Decimal("70.00")} and rest.rule == "iban_amount"


def test_overpayment_leaves_unallocated_credit(receivables):
    result = one(receivables, line("105.50", IBAN_C1, (RF_1234,)))
    assert allocated(result) == {"INV-00001234": Decimal("100.00")}
    assert (result.kind, result.unallocated) == ("overpayment", Decimal("5.50"))


def test_combined_payment_with_several_structured_references(receivables):
    result = one(receivables, line("350.00", IBAN_C1, (RF_1234, RF_1235)))
    assert allocated(result) == {"INV-00001234": Decimal("100.00"), "INV-00001235": Decimal("250.00")}
    assert result.kind == "combined"


def test_several_rf_references_typed_in_the_text_are_all_read(receivables):
    """Found by bench/matching.py: the text's second RF reference was glued to the first one,
    which then matched alone and left the rest as 'overpayment' (a wrong match)."""
    result = one(receivables, line("350.00", IBAN_C1, text=f"{RF_1234} {RF_1235}"))
    assert allocated(result) == {"INV-00001234": Decimal("100.00"), "INV-00001235": Decimal("250.00")}
    assert result.rule == "reference_in_text"


def test_reference_typed_in_groups_of_four_in_the_text(receivables):
    grouped = " ".join(RF_1234[i:i + 4] for i in range(0, len(RF_1234), 4))
    result = one(receivables, line("100.00", UNKNOWN_IBAN, text=f"betaling {grouped} dank"))
    assert allocated(result) == {"INV-00001234": Decimal("100.00")} and result.rule == "reference_in_text"


def test_short_combined_payment_is_not_split_by_guesswork(receivables):
    result = one(receivables, line("300.00", IBAN_C1, (RF_1234, RF_1235)))
    assert isinstance(result, Unmatched) and result.reason == "short_combined_payment"
    assert set(result.candidates) == {"INV-00001234", "INV-00001235"}


def test_second_payment_of_a_paid_invoice_is_a_duplicate_not_matched_elsewhere(receivables):
    result = one(receivables, line("100.00", IBAN_C1, (make_rf("00001000"),)))
    assert isinstance(result, Unmatched) and result.reason == "paid_invoice"


def test_reference_of_another_customer_paid_from_a_known_unrelated_account(receivables):
    result = one(receivables, line("100.00", IBAN_C9, (RF_1234,)))
    assert isinstance(result, Unmatched) and result.reason == "reference_of_other_customer"


def test_valid_reference_on_no_invoice_is_unmatched(receivables):
    result = one(receivables, line("100.00", UNKNOWN_IBAN, (make_rf("77777777"),)))
    assert isinstance(result, Unmatched) and result.reason == "unknown_reference"


def test_dutch_reference_needs_the_amount_or_the_iban(receivables):
    ref = receivables.invoices[5].reference
    partial_unknown = one(receivables, line("200.00", UNKNOWN_IBAN, (ref,)))
    assert isinstance(partial_unknown, Unmatched) and partial_unknown.reason == "unconfirmed_reference"
    assert allocated(one(receivables, line("500.00", UNKNOWN_IBAN, (ref,)))) == {"INV-00002000": Decimal("500.00")}
    assert allocated(one(receivables, line("200.00", IBAN_C2, (ref,)))) == {"INV-00002000": Decimal("200.00")}


def test_other_currency_is_unmatched(receivables):
    result = one(receivables, line("100.00", IBAN_C1, (RF_1234,), currency="USD"))
    assert isinstance(result, Unmatched) and result.reason == "currency"


# -- typos: one typo must never match a different invoice ----------------------------------------

def test_typo_in_the_structured_reference_is_repaired_only_with_iban_and_amount(receivables):
    typo = RF_1234[:-2] + RF_1234[-1] + RF_1234[-2]  # the last two digits swapped: check digit fails
    assert allocated(one(receivables, line("100.00", IBAN_C1, (typo,)))) == {"INV-00001234": Decimal("100.00")}
    for unsafe in (line("100.00", UNKNOWN_IBAN, (typo,)), line("90.00", IBAN_C1, (typo,))):
        result = one(receivables, unsafe)
        assert isinstance(result, Unmatched) and result.reason == "invalid_reference"


def test_a_zero_added_keeps_the_rf_check_digit_and_is_repaired_as_a_typo(receivables):
    """Found by bench/matching.py: 'RF..000001234' passes modulo 97 but is on no invoice."""
    padded = make_rf("00001234")[:4] + "0" + make_rf("00001234")[4:]
    result = one(receivables, line("100.00", IBAN_C1, (padded,)))
    assert allocated(result) == {"INV-00001234": Decimal("100.00")} and result.rule == "reference_repaired"


def test_typo_in_the_number_hitting_another_customers_invoice_is_not_matched_to_it(receivables):
    """INV-00001243 is C-2's, with the same amount as C-1's INV-00001234: a typo of C-1, or C-1 paying
    C-2's invoice? Either reading fits, so neither is taken."""
    own = one(receivables, line("100.00", IBAN_C1, text="INV-00001243"))
    assert isinstance(own, Unmatched) and own.reason == "unconfirmed_invoice_number"
    assert own.candidates == ("INV-00001243",)
    unknown = one(receivables, line("100.00", UNKNOWN_IBAN, text="INV-00001243"))
    assert isinstance(unknown, Unmatched) and unknown.reason == "ambiguous_invoice_number"
    assert set(unknown.candidates) == {"INV-00001243", "INV-00001234"}


def test_typo_in_the_number_is_repaired_when_it_is_unique_and_confirmed(receivables):
    """INV-00001324 is no invoice; C-1's INV-00001234 is one swap away and has the amount paid."""
    own = one(receivables, line("100.00", IBAN_C1, text="INV-00001324"))
    assert allocated(own) == {"INV-00001234": Decimal("100.00")} and own.rule == "invoice_number_repaired"
    for unsafe in (line("100.00", UNKNOWN_IBAN, text="INV-00001324"), line("99.00", IBAN_C1, text="INV-00001324")):
        result = one(receivables, unsafe)
        assert isinstance(result, Unmatched) and result.reason == "unknown_invoice_number"


def test_number_from_an_unknown_account_needs_the_amount(receivables):
    assert allocated(one(receivables, line("250.00", UNKNOWN_IBAN, text="factuur 1235"))) == {
        "INV-00001235": Decimal("250.00")}
    result = one(receivables, line("200.00", UNKNOWN_IBAN, text="factuur 1235"))
    assert isinstance(result, Unmatched) and result.reason == "unconfirmed_invoice_number"


def test_partial_payment_by_number_is_refused_when_an_own_invoice_is_one_typo_away(receivables):
    crowded = Receivables((*receivables.invoices, invoice(1298, "C-1", "75.00")), receivables.ibans)
    result = one(crowded, line("20.00", IBAN_C1, text="INV-00001299"))  # 1298 is one typo away
    assert isinstance(result, Unmatched) and result.reason == "ambiguous_invoice_number"
    assert allocated(one(receivables, line("20.00", IBAN_C1, text="INV-00001299"))) == {
        "INV-00001299": Decimal("20.00")}


@pytest.mark.parametrize("text", ["INV-00001235", "inv 1235", "factuur 00001235", "Factuur nr. 1235",
                                  "Factuurnummer: 00001235", "Rechnung Nr. 1235", "Rg.-Nr. 1235",
                                  "Facture n° 00001235", "INV00001235", "inv#1235", "Re: Invoice No. 00001235",
                                  "betaling factuur INV-00001235 dank u"])
def test_invoice_number_formats(receivables, text):
    result = one(receivables, line("250.00", IBAN_C1, text=text))
    assert allocated(result) == {"INV-00001235": Decimal("250.00")} and result.rule == "invoice_number"


@pytest.mark.parametrize("text", ["facturen 1234 en 1235", "INV-00001234, INV-00001235", "invoices 1234/1235"])
def test_several_invoice_numbers_in_one_text(receivables, text):
    assert allocated(one(receivables, line("350.00", IBAN_C1B, text=text))) == {
        "INV-00001234": Decimal("100.00"), "INV-00001235": Decimal("250.00")}


def test_a_long_end_to_end_id_does_not_block_the_amount_search(receivables):
    """ING fills the end-to-end id with 17 digits; it is no broken payment reference."""
    paying = StatementLine(**{**line("250.00", IBAN_C1B).__dict__, "end_to_end_id": "15814016000676480"})
    assert allocated(one(receivables, paying)) == {"INV-00001235": Decimal("250.00")}


def test_an_amount_in_the_text_is_not_read_as_an_invoice_number(receivables):
    result = one(receivables, line("100.00", IBAN_C1, text="inv 1234 EUR 1.235,00"))
    assert allocated(result) == {"INV-00001234": Decimal("100.00")}


@pytest.mark.parametrize("a, b, near", [("1234", "1243", True), ("1234", "1235", True), ("1234", "124", True),
                                        ("1234", "12345", True), ("1234", "4321", False), ("12", "34", False)])
def test_within_one_edit(a, b, near):
    assert within_one_edit(a, b) is near and within_one_edit(b, a) is near


# -- rule 3: known IBAN and amount ----------------------------------------------------------------

def test_iban_and_amount_of_one_open_invoice(receivables):
    result = one(receivables, line("250.00", IBAN_C1B))
    assert allocated(result) == {"INV-00001235": Decimal("250.00")} and result.rule == "iban_amount"


def test_iban_and_a_unique_combination(receivables):
    result = one(receivables, line("290.00", IBAN_C1))  # 250 + 40, and nothing else
    assert allocated(result) == {"INV-00001235": Decimal("250.00"), "INV-00001299": Decimal("40.00")}
    assert result.rule == "iban_combination"


def test_iban_and_an_amount_with_two_explanations_is_unmatched(receivables):
    result = one(receivables, line("100.00", IBAN_C4))  # 100 alone, or 60 + 40
    assert isinstance(result, Unmatched) and result.reason == "ambiguous_amount"


def test_no_reference_and_no_fitting_amount(receivables):
    result = one(receivables, line("12.34", IBAN_C1))
    assert isinstance(result, Unmatched) and result.reason == "no_amount_match"


def test_unknown_account_without_reference_is_unmatched(receivables):
    result = one(receivables, line("100.00", UNKNOWN_IBAN, text="refund order 5531"))
    assert isinstance(result, Unmatched) and result.reason == "unknown_payer"


def test_subset_search_is_bounded():
    rng = random.Random(1)
    many = Receivables(tuple(invoice(5000 + i, "C-7", f"{rng.uniform(50, 150):.2f}") for i in range(40)),
                       {"C-7": ("X1",)})
    result = one(many, line("4000.00", "X1"))
    assert isinstance(result, Unmatched) and result.reason == "too_many_open_invoices"
    assert MAX_SUBSET_STATES < 10**6


def test_named_lines_are_matched_before_the_amount_searches(receivables):
    """An IBAN-only line first in the statement must not take the invoice a later line names."""
    search, named = one(receivables, line("100.00", IBAN_C1, n=1), line("100.00", IBAN_C1, (RF_1234,), n=2))
    assert allocated(named) == {"INV-00001234": Decimal("100.00")}
    assert isinstance(search, Unmatched) and search.reason == "no_amount_match"


# -- the parent company ---------------------------------------------------------------------------

def test_parent_pays_its_subsidiary_with_a_reference(receivables):
    result = one(receivables, line("80.00", IBAN_P1, (make_rf("00003000"),)))
    assert allocated(result) == {"INV-00003000": Decimal("80.00")} and "same group" in result.reason


def test_parent_without_a_reference_is_not_matched_to_its_subsidiary(receivables):
    result = one(receivables, line("80.00", IBAN_P1))
    assert isinstance(result, Unmatched) and result.reason == "group_without_reference"
    assert result.candidates == ("INV-00003000",)


# -- not a payment --------------------------------------------------------------------------------

def test_debits_and_reversals_are_ignored_and_reported(receivables):
    debit, reversal = one(receivables, line("100.00", IBAN_C1, (RF_1234,), direction="debit", n=1),
                          line("100.00", IBAN_C1, (RF_1234,), reversal=True, n=2))
    assert isinstance(debit, Ignored) and debit.reason == "debit"
    assert isinstance(reversal, Ignored) and reversal.reason == "reversal"


# -- random noise never yields a wrong match ------------------------------------------------------

def _dense_book(n_customers: int, per_customer: int, amounts: list[str]) -> Receivables:
    """Consecutive invoice numbers (every typo of a number is another invoice) and repeated amounts."""
    invoices, seq = [], 1000
    for c in range(n_customers):
        for k in range(per_customer):
            invoices.append(invoice(seq, f"C-{c}", amounts[(c + k) % len(amounts)], nl=c % 2 == 0))
            seq += 1
    return Receivables(tuple(invoices), {f"C-{c}": (f"IBAN{c}",) for c in range(n_customers)},
                       {f"C-{c}": "G" for c in range(0, n_customers, 5)})


def _typo(text: str, how: int, at: int, digit: str) -> str:
    at %= len(text)
    if how == 0:
        return text[:at] + digit + text[at + 1:]
    if how == 1 and at + 1 < len(text):
        return text[:at] + text[at + 1] + text[at] + text[at + 2:]
    if how == 2 and len(text) > 1:
        return text[:at] + text[at + 1:]
    return text[:at] + digit + text[at:]


BOOK = _dense_book(12, 6, ["100.00", "100.00", "250.00", "40.00", "60.00"])


def _lands_on_payers_own(written: str, iban: str) -> bool:
    """The typo'd text is (one typo from) an invoice of the account's holder or its group."""
    holders = {c for c, ibans in BOOK.ibans.items() if iban in ibans}
    holders |= {c for c in BOOK.groups if holders & {k for k, g in BOOK.groups.items() if g == BOOK.groups[c]}}
    written = written.lstrip("0")
    return any(within_one_edit(written, inv.number[4:].lstrip("0")) or within_one_edit(written, inv.reference)
               for inv in BOOK.invoices if inv.customer_id in holders)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.integers(0, len(BOOK.invoices) - 1), payer=st.sampled_from(["own", "unknown", "other", "group"]),
       amount=st.sampled_from(["full", "partial", "over"]),
       written=st.sampled_from(["reference", "reference_text", "number", "none"]),
       typo=st.booleans(), how=st.integers(0, 3), at=st.integers(0, 30), digit=st.sampled_from("0123456789"))
def test_random_noise_never_yields_a_wrong_match(target, payer, amount, written, typo, how, at, digit):
    """Any typo, payer, amount and way of writing: the line is unmatched or matched to the truth.

    A line that says nothing readable (nothing written, or a typo that leaves
    no reference shape) is only checked as a full payment from the customer's
    own or an unknown account: the rule "known IBAN and amount" takes an
    account holder who says nothing to pay its own invoices, and a partial
    payment that says nothing cannot be told from a combination of them
    (docs/matching.md, limits).
    """
    inv: Invoice = BOOK.invoices[target]
    customer = int(inv.customer_id.split("-")[1])
    iban = {"own": f"IBAN{customer}", "unknown": "NL00UNKNOWN", "other": f"IBAN{(customer + 1) % 12}",
            "group": "IBAN0" if customer % 5 == 0 and customer != 0 else f"IBAN{customer}"}[payer]
    paid = {"full": inv.open_amount, "partial": inv.open_amount - Decimal("10.00"),
            "over": inv.open_amount + Decimal("3.00")}[amount]
    ref = _typo(inv.reference, how, at, digit) if typo else inv.reference
    number = _typo(f"{int(inv.number[4:]):08d}", how, at, digit) if typo else inv.number[4:]
    refs, text = {"reference": ((ref,), ""), "reference_text": ((), f"kenmerk {ref}"),
                  "number": ((), f"INV-{number}"), "none": ((), "")}[written]
    paying = line(str(paid), iban, refs, text)
    if not evidence(paying).names_something and (payer in ("other", "group") or amount != "full"):
        return
    if typo and payer != "own" and _lands_on_payers_own(ref if written.startswith("reference") else number, iban):
        return  # another account's typo that writes the account holder's own invoice: that one is read
    result = one(BOOK, paying)
    if isinstance(result, Match):
        due = min(paid, inv.open_amount)
        assert allocated(result) == {inv.invoice_id: due}, (result.rule, result.reason)
        assert result.unallocated == paid - due
