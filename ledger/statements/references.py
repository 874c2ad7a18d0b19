"""Payment references and IBANs: recognise them, check their check digits, make valid ones.

Why: a payer who types a reference makes typos; a check digit tells a typo
from a different invoice before anything is matched. Two references are in use:

- the ISO 11649 creditor reference ``RFkk<up to 21 alphanumerics>``: ``kk``
  makes the whole string (rotated, letters as numbers) 1 modulo 97, which
  catches every digit mistyped as another and every swap of neighbouring
  digits (not every typo: a letter counts as two digits, and a zero added or
  dropped in front of the body keeps the number and so the check);
- the Dutch payment reference (*betalingskenmerk*, Currence), 16 digits: the
  first is a check digit over the other 15, weights 2, 4, 8, 5, 10, 9, 7, 3,
  6, 1 (powers of 2 modulo 11) from the right, check = 11 - sum mod 11 with
  11 -> 0 and 10 -> 1. The folding of 10 onto 1 means it misses some single
  typos, so a 16-digit reference is never trusted on its check digit alone.

The IBAN (ISO 13616) uses the same modulo 97 as the RF reference.

Example::

    make_rf("1234")                        # 'RF541234'
    reference_kind("RF54 1234")            # 'rf'
    is_valid_reference("RF541243")         # False: the typo is caught
"""
from __future__ import annotations

import re
from typing import Literal

from ledger.statements.lines import normalize_reference

ReferenceKind = Literal["rf", "nl16"]

_RF = re.compile(r"RF\d{2}[0-9A-Z]{1,21}")
_NL16 = re.compile(r"\d{16}")
_NL_WEIGHTS = (2, 4, 8, 5, 10, 9, 7, 3, 6, 1)
_IBAN = re.compile(r"[A-Z]{2}\d{2}[0-9A-Z]{11,30}")


def _mod97(alnum: str) -> int:
    """ISO 7064 MOD 97-10 of an alphanumeric string (A=10 ... Z=35)."""
    return int("".join(str(int(ch, 36)) for ch in alnum)) % 97


def reference_kind(text: str) -> ReferenceKind | None:
    """``'rf'`` or ``'nl16'`` when ``text`` has the shape of one (check digit not checked)."""
    ref = normalize_reference(text)
    if _RF.fullmatch(ref):
        return "rf"
    if _NL16.fullmatch(ref):
        return "nl16"
    return None


def is_valid_reference(text: str) -> bool:
    """True when ``text`` is an RF or Dutch reference whose check digit holds."""
    ref = normalize_reference(text)
    kind = reference_kind(ref)
    if kind == "rf":
        return _mod97(ref[4:] + ref[:4]) == 1
    if kind == "nl16":
        return int(ref[0]) == _nl_check_digit(ref[1:])
    return False


def _nl_check_digit(body: str) -> int:
    total = sum(int(d) * _NL_WEIGHTS[i % len(_NL_WEIGHTS)] for i, d in enumerate(reversed(body)))
    check = 11 - total % 11
    return {10: 1, 11: 0}.get(check, check)


def make_rf(body: str) -> str:
    """The RF creditor reference of ``body`` (1 to 21 alphanumerics)."""
    body = normalize_reference(body)
    if not 1 <= len(body) <= 21:
        raise ValueError(f"an RF reference body has 1 to 21 characters, got {len(body)}")
    return f"RF{98 - _mod97(body + 'RF00'):02d}{body}"


def make_nl16(body: str) -> str:
    """The Dutch 16-digit payment reference of a 15-digit ``body``."""
    if not (len(body) == 15 and body.isdigit()):
        raise ValueError("a Dutch payment reference body has 15 digits")
    return f"{_nl_check_digit(body)}{body}"


def is_valid_iban(text: str) -> bool:
    """True for an IBAN of plausible shape whose modulo 97 check holds (national rules not checked)."""
    iban = normalize_reference(text)
    return bool(_IBAN.fullmatch(iban)) and _mod97(iban[4:] + iban[:4]) == 1


def make_iban(country: str, bban: str) -> str:
    """The IBAN of a national account number ``bban`` in ``country`` (ISO 3166 alpha-2)."""
    bban = normalize_reference(bban)
    return f"{country}{98 - _mod97(bban + country + '00'):02d}{bban}"
