"""RF creditor references, Dutch payment references and IBANs: check digits catch typos."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from ledger.statements.references import (
    is_valid_iban, is_valid_reference, make_iban, make_nl16, make_rf, reference_kind)

# Published examples: the ISO 11649 one, and Belastingdienst payment references (16 digits, check digit first).
RF_EXAMPLE = "RF18539007547034"
NL16_EXAMPLES = ("5010002167010010", "3010002167042021", "0001041146910100", "9001041146812501",
                 "2017166777600001", "8049244482480005", "3961307998410020")


def test_published_references_are_valid():
    assert is_valid_reference(RF_EXAMPLE) and is_valid_reference("RF18 5390 0754 7034")
    assert all(is_valid_reference(r) for r in NL16_EXAMPLES)
    assert reference_kind(RF_EXAMPLE) == "rf" and reference_kind("5010.0021.6701.0010") == "nl16"
    assert reference_kind("INV-00001234") is None and not is_valid_reference("INV-00001234")


def test_made_references_round_trip():
    assert make_rf("539007547034") == RF_EXAMPLE
    assert make_nl16("010002167010010") == "5010002167010010"
    assert make_iban("NL", "ABNA0417164300") == "NL91ABNA0417164300"
    assert is_valid_iban("DE89 3704 0044 0532 0130 00") and not is_valid_iban("DE89370400440532013001")


@given(st.text("0123456789", min_size=1, max_size=21), st.data())
def test_rf_catches_every_mistyped_digit_and_swap(body, data):
    ref = make_rf(body)
    i = data.draw(st.integers(2, len(ref) - 1))
    other = data.draw(st.sampled_from([c for c in "0123456789" if c != ref[i]]))
    assert not is_valid_reference(ref[:i] + other + ref[i + 1:])
    if i + 1 < len(ref) and ref[i] != ref[i + 1]:
        assert not is_valid_reference(ref[:i] + ref[i + 1] + ref[i] + ref[i + 2:])


def test_rf_misses_a_zero_added_in_front_of_the_body():
    """Why a valid RF reference that is on no invoice is still tried as a typo (engine.matching)."""
    assert is_valid_reference("RF54" + "0" + "1234") and make_rf("1234") == "RF541234"


def test_dutch_check_digit_catches_most_typos_but_not_all():
    """Why a 16-digit reference is never trusted on its check digit alone (see engine.matching)."""
    caught = missed = 0
    for ref in [*NL16_EXAMPLES, *(make_nl16(f"{k:015d}") for k in range(100))]:
        for i in range(16):
            for d in "0123456789":
                if d != ref[i]:
                    if is_valid_reference(ref[:i] + d + ref[i + 1:]):
                        missed += 1
                    else:
                        caught += 1
    assert missed > 0 and caught / (caught + missed) > 0.95


@pytest.mark.parametrize("bad", ["", "1" * 22])
def test_rf_body_length_is_checked(bad):
    with pytest.raises(ValueError):
        make_rf(bad)
