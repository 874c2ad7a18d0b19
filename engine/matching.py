"""Bank statement lines to open invoices, designed for zero wrong matches.

Why: a wrong match is worse than no match: it closes the wrong invoice and
dunns a customer who paid. So a line is matched only when its evidence has a
single explanation; everything else goes, with its reason and candidates, to
the unmatched queue, where a person decides.

The rules, in order (the first that applies decides; none falls through to a
weaker one once the line named something):

1. **structured reference** (``Strd/CdtrRefInf/Ref`` or ``/REMI/STRD/``), or an
   RF / Dutch reference typed into the free text, whose check digit holds
   and which equals an invoice's stored reference. The payer's IBAN, when
   known, must belong to that customer or to its group (a parent company
   pays with a reference). A Dutch reference's check digit misses some
   typos, so it also needs the amount or the IBAN to agree.
2. **invoice number** in the free text ("INV-00001234", "inv 1234",
   "factuur 00001234", "Rechnung Nr. 1234", several in one text for a
   combined payment). Numbers have no check digit: one is accepted only when
   the payer's IBAN is the customer's (or its group's), or, from an unknown
   account, when the amount equals the open amount.
   A reference with a broken check digit, a valid one on no invoice, or a
   number the payer's own invoices do not have is **repaired** only when
   exactly one of the payer's own open invoices is one typo away, its open
   amount equals the payment, and the text read literally is no other open
   invoice with that amount. An unreadable reference still names something:
   such a line is never searched by amount.
3. **known IBAN and amount**: no reference at all, the IBAN is known for the
   customer, and exactly one of its open invoices, or exactly one combination
   of them (bounded subset-sum), equals the amount. Group IBANs are not
   searched: a parent's payment needs a reference.

A match is refused when another invoice the payer may pay is one typo away
from what was written and explains the line as well: with the same open
amount, or at all when the amount confirms neither (a partial payment, an
overpayment).

Partial payments are allocated partially; an overpayment allocates the open
amount and leaves the rest as unallocated credit; a combined payment that
falls short is not split by guesswork. Lines that name something are matched
first (in bank order), the IBAN-and-amount searches after them, so a search
never takes an invoice that a later line names. Debits and reversals are
ignored and reported.

Example::

    results = match_lines(lines, Receivables(invoices, ibans={"C-1": {"NL91ABNA0417164300"}}))
    [r for r in results if isinstance(r, Unmatched)]      # the day's tasks
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from ledger.statements.lines import StatementLine, normalize_reference
from ledger.statements.references import is_valid_reference, reference_kind

Rule = Literal["structured_reference", "reference_in_text", "reference_repaired", "invoice_number",
               "invoice_number_repaired", "iban_amount", "iban_combination"]
UnmatchedReason = Literal[
    "unknown_reference", "paid_invoice", "reference_of_other_customer", "unconfirmed_reference",
    "ambiguous_reference", "invalid_reference", "unknown_invoice_number", "unconfirmed_invoice_number",
    "ambiguous_invoice_number", "short_combined_payment", "currency", "unknown_payer", "no_amount_match",
    "ambiguous_amount", "too_many_open_invoices", "group_without_reference"]
IgnoredReason = Literal["debit", "reversal"]
Kind = Literal["full", "partial", "overpayment", "combined"]

#: The subset-sum search gives up (unmatched) beyond this many partial sums.
MAX_SUBSET_STATES = 50_000

_KEYWORDS = (r"rechnungsnummer|rechnungsnr|rechnungen|rechnung|factuurnummer|factuurnr|factuur|facturen|facture|factura"
             r"|invoices|invoice|inv|fakt|fact|fac|rg|re|bill|nota")
_NUMBER_WORD = r"(?:nummer|number|nr|no|num|n°|n)"
_WHOLE = r"(?!\d|[.,]\d)"  # a whole number, not the integer part of an amount
_MENTION = re.compile(
    rf"(?<![A-Za-z0-9])(?:{_KEYWORDS})\.?[\s.:#°\-]*(?:{_NUMBER_WORD}\.?[\s.:#°\-]*)?(?:INV-?)?"
    rf"(\d{{1,12}}){_WHOLE}((?:\s*(?:,|/|&|\+|;|en|and|und|et)\s*(?:INV-?)?\d{{1,12}}{_WHOLE})*)",
    re.IGNORECASE)
_LISTED = re.compile(r"(\d{1,12})")
# An RF reference typed in text, maybe in groups of four; a space never joins the next "RF.." to it.
_TEXT_RF = re.compile(r"(?<![A-Za-z0-9])RF\d{2}(?:[0-9A-Z]| (?!RF\d{2})(?=[0-9A-Z]))+", re.IGNORECASE)
_RF_MAX = 25
_TEXT_NL16 = re.compile(r"(?<![\d.])\d(?:[ .]?\d){14,16}(?![\d]|[.,]\d)")  # 16 digits, or one typo off
_DIGITS = "0123456789"
_ALNUM = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Invoice:
    """An invoice as matching needs it.

    ``number`` as printed (its digits identify it: "INV-00001234" is 1234);
    ``reference`` the structured payment reference printed on it (RF or Dutch
    16-digit); ``open_amount`` what is still due. Recently closed invoices may
    be passed with an open amount of 0, so a second payment of one is seen as
    a duplicate rather than matched elsewhere.
    """

    invoice_id: str
    customer_id: str
    number: str
    reference: str | None
    open_amount: Decimal
    currency: str = "EUR"


@dataclass(frozen=True)
class Receivables:
    """What the ledger knows: the invoices, each customer's IBANs and its group (parent and subsidiaries)."""

    invoices: Sequence[Invoice]
    ibans: Mapping[str, Collection[str]]
    groups: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Allocation:
    invoice_id: str
    amount: Decimal


@dataclass(frozen=True)
class Match:
    """A line allocated to invoices, by ``rule``; ``reason`` says why it is safe, in words."""

    line: StatementLine
    rule: Rule
    allocations: tuple[Allocation, ...]
    unallocated: Decimal
    reason: str
    kind: Kind


@dataclass(frozen=True)
class Unmatched:
    """A credit that needs a person: ``reason`` is the code, ``detail`` the words, ``candidates`` the invoices considered."""

    line: StatementLine
    reason: UnmatchedReason
    detail: str
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ignored:
    """A line that is not a customer's payment (a debit, a reversal): reported, never matched."""

    line: StatementLine
    reason: IgnoredReason


Result = Match | Unmatched | Ignored


def match_lines(lines: Iterable[StatementLine], receivables: Receivables) -> list[Result]:
    """One result per line, in the lines' order; open amounts carry from line to line."""
    return _Matcher(receivables).run(list(lines))


@dataclass(frozen=True)
class _Evidence:
    """What a line says about what it pays."""

    refs: tuple[tuple[str, bool], ...]  # (reference, from the structured field), check digit valid
    broken: tuple[str, ...]  # reference-shaped, check digit fails
    mentions: tuple[str, ...]  # invoice-number digits, leading zeros dropped

    @property
    def names_something(self) -> bool:
        return bool(self.refs or self.broken or self.mentions)


def _number_key(text: str) -> str:
    digits = "".join(ch for ch in text if ch.isdigit())
    return (digits.lstrip("0") or "0") if digits else ""


def evidence(line: StatementLine) -> _Evidence:
    """The references and invoice numbers of a line: structured field, free text and end-to-end id.

    The end-to-end id is the payer's own id: a valid reference or an invoice
    number in it counts, a long number that fails a check digit does not
    (banks fill it with 17-digit ids).
    """
    refs: dict[str, bool] = {}  # reference -> given in the structured field
    broken: list[str] = []
    texts = [line.remittance]
    for ref in line.structured_refs:
        if reference_kind(ref) is None:
            if _MENTION.search(ref) or _TEXT_RF.search(ref):
                texts.append(ref)  # a creditor reference that is an invoice number
            else:
                broken.append(ref)  # unreadable: it still names something, so no amount search
        elif is_valid_reference(ref):
            refs[ref] = True
        else:
            broken.append(ref)
    text = " ".join(texts)
    for source, own_text in ((text, True), (line.end_to_end_id or "", False)):
        for found in _TEXT_RF.finditer(source):
            ref = _valid_prefix(found.group(0))
            if ref is not None:
                refs.setdefault(ref, False)
            elif own_text and len(normalize_reference(found.group(0))) <= _RF_MAX:
                broken.append(normalize_reference(found.group(0)))
        for found in _TEXT_NL16.finditer(source):
            ref = normalize_reference(found.group(0))
            if is_valid_reference(ref):
                refs.setdefault(ref, False)
            elif own_text:
                broken.append(ref)
    text = f"{text} {line.end_to_end_id or ''}"
    mentions: list[str] = []
    for found in _MENTION.finditer(text):
        for number in [found.group(1), *_LISTED.findall(found.group(2) or "")]:
            key = _number_key(number)
            if key not in mentions:
                mentions.append(key)
    return _Evidence(tuple(refs.items()), tuple(dict.fromkeys(broken)), tuple(mentions))


def _valid_prefix(found: str) -> str | None:
    """The longest run of groups of an RF reference typed in text whose check digit holds."""
    groups = found.split(" ")
    for end in range(len(groups), 0, -1):
        ref = normalize_reference("".join(groups[:end]))
        if reference_kind(ref) == "rf" and is_valid_reference(ref):
            return ref
    return None


def one_edit_variants(text: str, alphabet: str) -> Iterator[str]:
    """Every string one typo away: a substitution, a swap of neighbours, a deletion or an insertion."""
    for i in range(len(text)):
        for ch in alphabet:
            if ch != text[i]:
                yield text[:i] + ch + text[i + 1:]
        yield text[:i] + text[i + 1:]
        if i + 1 < len(text) and text[i] != text[i + 1]:
            yield text[:i] + text[i + 1] + text[i] + text[i + 2:]
    for i in range(len(text) + 1):
        for ch in alphabet:
            yield text[:i] + ch + text[i:]


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one substitution, swap, deletion or insertion."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def _near_number(a: str, b: str) -> bool:
    """One typo apart as printed: compared zero-padded too ("INV-09028109" is one typo from 28109)."""
    width = max(len(a), len(b), 8)
    return within_one_edit(a, b) or within_one_edit(a.zfill(width), b.zfill(width))


def _number_variants(key: str) -> set[str]:
    padded = key.zfill(max(8, len(key)))
    return {_number_key(v) for v in (*one_edit_variants(key, _DIGITS), *one_edit_variants(padded, _DIGITS))} - {""}


@dataclass(frozen=True)
class _Written:
    """What a payer writes that names an invoice: a reference or an invoice number, and its typos."""

    name: Literal["reference", "number"]
    near: Callable[[str, str], bool]
    variants: Callable[[str], Iterable[str]]


_REFERENCE = _Written("reference", near=within_one_edit, variants=lambda text: set(one_edit_variants(text, _ALNUM)))
_NUMBER = _Written("number", near=_near_number, variants=_number_variants)


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


class _Matcher:
    """Indexes the receivables once; holds the open amounts as lines are allocated."""

    def __init__(self, receivables: Receivables) -> None:
        self.invoices = {inv.invoice_id: inv for inv in receivables.invoices}
        self.open = {inv.invoice_id: inv.open_amount for inv in receivables.invoices}
        self.by_reference: dict[str, list[Invoice]] = defaultdict(list)
        self.by_number: dict[str, list[Invoice]] = defaultdict(list)
        self.by_customer: dict[str, list[Invoice]] = defaultdict(list)
        self.keys: dict[str, dict[str, str]] = {"reference": {}, "number": {}}
        for inv in receivables.invoices:
            ref = normalize_reference(inv.reference) if inv.reference else ""
            number = _number_key(inv.number)
            self.keys["reference"][inv.invoice_id], self.keys["number"][inv.invoice_id] = ref, number
            if ref:
                self.by_reference[ref].append(inv)
            self.by_number[number].append(inv)
            self.by_customer[inv.customer_id].append(inv)
        self.customers_of_iban: dict[str, set[str]] = defaultdict(set)
        for customer, ibans in receivables.ibans.items():
            for iban in ibans:
                self.customers_of_iban[normalize_reference(iban)].add(customer)
        self.group = dict(receivables.groups)
        self.members: dict[str, set[str]] = defaultdict(set)
        for customer, group in receivables.groups.items():
            self.members[group].add(customer)

    # -- the run -----------------------------------------------------------------------------
    def run(self, lines: list[StatementLine]) -> list[Result]:
        results: list[Result | None] = [None] * len(lines)
        searches: list[int] = []
        for i, line in enumerate(lines):
            if not line.is_credit:
                results[i] = Ignored(line, "reversal" if line.reversal else "debit")
                continue
            found = evidence(line)
            if found.names_something:
                results[i] = self._named(line, found)
            else:
                searches.append(i)
        for i in searches:
            results[i] = self._search(lines[i])
        return [r for r in results if r is not None]

    # -- who pays ----------------------------------------------------------------------------
    def _payer(self, line: StatementLine) -> set[str]:
        return set(self.customers_of_iban.get(line.counterparty_iban or "", ()))

    def _authorised(self, payer: set[str]) -> set[str]:
        """The customers whose invoices this payer may pay: its own and those of its groups."""
        out = set(payer)
        for customer in payer:
            if customer in self.group:
                out |= self.members[self.group[customer]]
        return out

    def _payer_words(self, line: StatementLine, payer: set[str], customer: str) -> str:
        if not payer:
            return f"payer IBAN {line.counterparty_iban or '(none)'} not on file"
        if customer in payer:
            return f"payer IBAN {line.counterparty_iban} is {customer}'s"
        return f"payer IBAN {line.counterparty_iban} is of {', '.join(sorted(payer))}, same group as {customer}"

    # -- lines that name invoices ------------------------------------------------------------
    def _named(self, line: StatementLine, found: _Evidence) -> Result:
        payer = self._payer(line)
        if found.refs:
            return self._by_reference(line, found, payer)
        if found.mentions:
            return self._by_number(line, found, payer)
        repaired = self._repair(line, payer, found.broken, _REFERENCE)
        if repaired is not None:
            return self._allocate(line, "reference_repaired", repaired,
                                  f"reference {found.broken[0]} fails its check digit; "
                                  f"{repaired[0].reference} of the payer's {repaired[0].number} "
                                  f"is one typo away and its open amount equals the payment")
        return Unmatched(line, "invalid_reference",
                         f"reference {', '.join(found.broken)} fails its check digit and no single "
                         f"invoice of the payer one typo away has this open amount")

    def _by_reference(self, line: StatementLine, found: _Evidence, payer: set[str]) -> Result:
        targets: list[Invoice] = []
        for ref, _ in found.refs:
            hits = self.by_reference.get(ref, [])
            if not hits:  # a typo can keep the check digit (a zero added or dropped keeps modulo 97)
                repaired = self._repair(line, payer, [r for r, _ in found.refs], _REFERENCE)
                if repaired is not None:
                    return self._allocate(line, "reference_repaired", repaired,
                                          f"reference {ref} is on no invoice; {repaired[0].reference} of the "
                                          f"payer's {repaired[0].number} is one typo away and its open amount "
                                          f"equals the payment")
                return Unmatched(line, "unknown_reference", f"reference {ref} is on no invoice")
            if len(hits) > 1:
                return Unmatched(line, "ambiguous_reference", f"reference {ref} is on several invoices",
                                 tuple(h.invoice_id for h in hits))
            if hits[0] not in targets:
                targets.append(hits[0])
        refused = self._check_targets(line, targets, payer, "reference")
        if refused is not None:
            return refused
        confirmed_by_amount = sum((self.open[t.invoice_id] for t in targets), Decimal(0)) == line.amount
        weak = [ref for ref, _ in found.refs if reference_kind(ref) == "nl16"]
        if weak and not (confirmed_by_amount or payer):  # a known payer passed _check_targets
            return Unmatched(line, "unconfirmed_reference",
                             f"Dutch reference {weak[0]} from an unknown account with an amount that is not "
                             f"the open amount: its check digit alone does not rule out a typo",
                             tuple(t.invoice_id for t in targets))
        refs = [ref for ref, _ in found.refs]
        rivals = self._rivals(line, targets, refs, payer, confirmed_by_amount, _REFERENCE, self.by_reference)
        if rivals:
            return Unmatched(line, "ambiguous_reference",
                             f"{', '.join(rivals)} is one typo from the reference and fits as well",
                             tuple(t.invoice_id for t in targets) + tuple(rivals))
        rule: Rule = "structured_reference" if any(structured for _, structured in found.refs) else "reference_in_text"
        where = "structured reference" if rule == "structured_reference" else "reference in the text"
        return self._allocate(line, rule, targets,
                              f"{where} {', '.join(refs)} is on {', '.join(t.number for t in targets)}; "
                              + self._payer_words(line, payer, targets[0].customer_id))

    def _by_number(self, line: StatementLine, found: _Evidence, payer: set[str]) -> Result:
        allowed = self._authorised(payer)
        exact: list[Invoice] = []
        for key in found.mentions:
            hits = [inv for inv in self.by_number.get(key, []) if not payer or inv.customer_id in allowed]
            if len(hits) != 1:
                exact = []
                break
            exact.append(hits[0])
        if exact and len(set(e.invoice_id for e in exact)) == len(exact):
            total = sum((self.open[t.invoice_id] for t in exact), Decimal(0))
            if payer or total == line.amount:
                refused = self._check_targets(line, exact, payer, "invoice number")
                if refused is not None:
                    return refused
                rivals = self._rivals(line, exact, list(found.mentions), payer, total == line.amount,
                                      _NUMBER, self.by_number)
                if rivals:
                    return Unmatched(line, "ambiguous_invoice_number",
                                     f"{', '.join(rivals)} is one typo from the invoice number and fits as well",
                                     tuple(t.invoice_id for t in exact) + tuple(rivals))
                confirmed = "; the amount equals the open amount" if total == line.amount and not payer else ""
                return self._allocate(line, "invoice_number", exact,
                                      f"invoice number {', '.join(t.number for t in exact)} in the text; "
                                      + self._payer_words(line, payer, exact[0].customer_id) + confirmed)
        repaired = self._repair(line, payer, found.mentions, _NUMBER)
        if repaired is not None:
            return self._allocate(line, "invoice_number_repaired", repaired,
                                  f"the text's number {', '.join(found.mentions)} is one typo from the payer's "
                                  f"{', '.join(r.number for r in repaired)}, whose open amount equals the payment")
        known = [inv.invoice_id for key in found.mentions for inv in self.by_number.get(key, [])]
        if not known:
            return Unmatched(line, "unknown_invoice_number",
                             f"no invoice has the number {', '.join(found.mentions)} of the text")
        return Unmatched(line, "unconfirmed_invoice_number",
                         f"the number {', '.join(found.mentions)} of the text is on an invoice that neither "
                         f"the payer's IBAN nor the amount confirms (a typo would look the same)", tuple(known))

    def _check_targets(self, line: StatementLine, targets: list[Invoice], payer: set[str],
                       what: str) -> Unmatched | None:
        """Refusals common to every named invoice: paid already, another currency, another customer's."""
        ids = tuple(t.invoice_id for t in targets)
        paid = [t for t in targets if self.open[t.invoice_id] <= 0]
        if paid:
            return Unmatched(line, "paid_invoice",
                             f"{', '.join(t.number for t in paid)} named by the {what} is paid already "
                             f"(a duplicate payment?)", ids)
        if any(t.currency != line.currency for t in targets):
            return Unmatched(line, "currency", f"the payment is in {line.currency}, the invoice is not", ids)
        if payer:
            allowed = self._authorised(payer)
            strangers = [t for t in targets if t.customer_id not in allowed]
            if strangers:
                return Unmatched(line, "reference_of_other_customer",
                                 f"the {what} names {strangers[0].number} of {strangers[0].customer_id}, but the "
                                 f"payer's IBAN is on file for {', '.join(sorted(payer))}, not of its group", ids)
        return None

    def _rivals(self, line: StatementLine, targets: list[Invoice], written: list[str], payer: set[str],
                confirmed_by_amount: bool, written_as: _Written, index: Mapping[str, list[Invoice]]) -> list[str]:
        """Other invoices one typo from what was written that explain the line at least as well.

        A rival is an open invoice one typo away that the payer may pay (its
        own or its group's; anyone's for an unknown account) and, when the
        amount confirms the written one, with the same open amount. Another
        customer's invoice is no rival of a known payer's own: an account
        holder that writes its own invoice is taken to pay it.
        """
        allowed = self._authorised(payer) if payer else None
        chosen = {t.invoice_id for t in targets}
        rivals: list[str] = []
        for slot, text in enumerate(written):
            target = targets[slot] if slot < len(targets) else targets[-1]
            keys = self.keys[written_as.name]

            def fits(inv: Invoice) -> bool:
                left = self.open[inv.invoice_id]
                return (inv.invoice_id not in chosen and left > 0 and inv.currency == line.currency
                        and (not confirmed_by_amount or left == self.open[target.invoice_id]))

            if allowed is not None:
                pool = [inv for c in allowed for inv in self.by_customer.get(c, []) if fits(inv)]
                near = [inv for inv in pool if keys[inv.invoice_id] and keys[inv.invoice_id] != text
                        and written_as.near(keys[inv.invoice_id], text)]
            else:
                near = [inv for v in written_as.variants(text) if v != text for inv in index.get(v, []) if fits(inv)]
            rivals.extend(inv.invoice_id for inv in near)
        return sorted(set(rivals))

    def _repair(self, line: StatementLine, payer: set[str], written: Sequence[str],
                written_as: _Written) -> list[Invoice] | None:
        """The payer's own open invoices, one per written item, one typo away and adding up to the amount.

        Refused when what was written, read literally, is another open invoice
        with the same open amount: then the payer may be paying that one.
        """
        if not payer:
            return None
        pool = [inv for c in payer for inv in self.by_customer.get(c, [])
                if self.open[inv.invoice_id] > 0 and inv.currency == line.currency]
        picked: list[Invoice] = []
        keys = self.keys[written_as.name]
        index = self.by_reference if written_as is _REFERENCE else self.by_number
        for text in written:
            near = [inv for inv in pool if keys[inv.invoice_id] and written_as.near(keys[inv.invoice_id], text)]
            if len(near) != 1 or near[0] in picked:
                return None
            literal = [inv for inv in index.get(text, []) if inv is not near[0]]
            if any(self.open[inv.invoice_id] == self.open[near[0].invoice_id] for inv in literal):
                return None  # read as written, it is another invoice that fits as well
            picked.append(near[0])
        total = sum((self.open[p.invoice_id] for p in picked), Decimal(0))
        return picked if picked and total == line.amount else None

    # -- lines that name nothing -------------------------------------------------------------
    def _search(self, line: StatementLine) -> Result:
        payer = self._payer(line)
        if not payer:
            return Unmatched(line, "unknown_payer",
                             f"no reference, no invoice number, and IBAN {line.counterparty_iban or '(none)'} "
                             f"is not on file")
        found = self._subset(line, payer)
        if isinstance(found, Unmatched):
            return found
        rule: Rule = "iban_amount" if len(found) == 1 else "iban_combination"
        return self._allocate(line, rule, found,
                              f"no reference; payer IBAN {line.counterparty_iban} is "
                              f"{', '.join(sorted(payer))}'s and only "
                              + (f"{found[0].number} has" if len(found) == 1 else
                                 f"{' + '.join(f.number for f in found)} have")
                              + " exactly this open amount")

    def _subset(self, line: StatementLine, payer: set[str]) -> list[Invoice] | Unmatched:
        pool = sorted((inv for c in payer for inv in self.by_customer.get(c, [])
                       if 0 < self.open[inv.invoice_id] <= line.amount and inv.currency == line.currency),
                      key=lambda inv: inv.invoice_id)
        target = _cents(line.amount)
        states: dict[int, tuple[int, tuple[str, ...]]] = {0: (1, ())}
        for inv in pool:
            cents = _cents(self.open[inv.invoice_id])
            grown = dict(states)
            for total, (count, witness) in states.items():
                new_total = total + cents
                if new_total > target:
                    continue
                had, had_witness = grown.get(new_total, (0, ()))
                grown[new_total] = (min(2, had + count), had_witness if had else witness + (inv.invoice_id,))
            states = grown
            if len(states) > MAX_SUBSET_STATES:
                return Unmatched(line, "too_many_open_invoices",
                                 f"{len(pool)} open invoices of the payer: the combination search is bounded",
                                 tuple(p.invoice_id for p in pool))
        count, witness = states.get(target, (0, ()))
        if count == 1:
            return [self.invoices[i] for i in witness]
        if count > 1:
            return Unmatched(line, "ambiguous_amount",
                             "several of the payer's open invoices, or combinations of them, have this amount",
                             tuple(p.invoice_id for p in pool))
        group_hits = self._group_hits(line, payer)
        if group_hits:
            return Unmatched(line, "group_without_reference",
                             f"the amount equals {', '.join(self.invoices[h].number for h in group_hits)} of "
                             f"a group company; a parent's payment is matched only with a reference", group_hits)
        return Unmatched(line, "no_amount_match",
                         "no open invoice of the payer, nor a combination of them, has this amount",
                         tuple(p.invoice_id for p in pool))

    def _group_hits(self, line: StatementLine, payer: set[str]) -> tuple[str, ...]:
        others = self._authorised(payer) - payer
        return tuple(sorted(inv.invoice_id for c in others for inv in self.by_customer.get(c, [])
                            if self.open[inv.invoice_id] == line.amount))

    # -- allocation --------------------------------------------------------------------------
    def _allocate(self, line: StatementLine, rule: Rule, targets: list[Invoice], reason: str) -> Result:
        due = [self.open[t.invoice_id] for t in targets]
        total = sum(due, Decimal(0))
        if line.amount < total and len(targets) > 1:
            return Unmatched(line, "short_combined_payment",
                             f"{line.amount} for {', '.join(t.number for t in targets)} ({total} open): "
                             f"which one is short is a person's call", tuple(t.invoice_id for t in targets))
        kind: Kind = "combined" if len(targets) > 1 else "full"
        if line.amount < total:
            allocations = (Allocation(targets[0].invoice_id, line.amount),)
            kind = "partial"
            reason += f" (partial payment: {total - line.amount} stays open)"
        else:
            allocations = tuple(Allocation(t.invoice_id, d) for t, d in zip(targets, due))
        for a in allocations:
            self.open[a.invoice_id] -= a.amount
        unallocated = line.amount - sum((a.amount for a in allocations), Decimal(0))
        if unallocated > 0:
            kind = "overpayment"
            reason += f"; {unallocated} more than open, left as unallocated credit"
        return Match(line, rule, allocations, unallocated, reason, kind)
