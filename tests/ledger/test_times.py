"""``to_us``: an ISO string's microseconds are remembered, and remembering changes no answer."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import InvalidInput
from ledger.events import to_us


@pytest.mark.parametrize("text, expected", [
    ("2026-12-01T09:00:00", datetime(2026, 12, 1, 9) - datetime(1970, 1, 1)),
    ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9) - datetime(1970, 1, 1)),
    (" 2026-12-01T10:00:00+01:00 ", datetime(2026, 12, 1, 9) - datetime(1970, 1, 1)),
])
def test_a_string_read_again_gives_the_same_microseconds(text: str, expected) -> None:
    first, again = to_us(text), to_us(text)
    assert first == again == expected.days * 86_400_000_000 + expected.seconds * 1_000_000
    assert to_us(text) == to_us(datetime.fromisoformat(text.strip()).astimezone(UTC))


def test_a_bad_string_is_refused_every_time_naming_its_field() -> None:
    for name in ("at", "due_at"):
        with pytest.raises(InvalidInput) as caught:
            to_us("2026-13-01", name)
        assert caught.value.field == name


def test_a_padded_string_is_read_but_not_remembered() -> None:
    """Spaces around a timestamp are allowed, so without a bound a client could fill the cache with
    megabytes of padding per entry; a string longer than a timestamp is parsed every time instead."""
    from ledger.events import _iso_us

    padded = " " * 100_000 + "2026-12-01T09:00:00Z"
    to_us("2026-12-01T09:00:00Z")
    before = _iso_us.cache_info()
    assert to_us(padded) == to_us("2026-12-01T09:00:00Z")
    after = _iso_us.cache_info()
    assert after.currsize == before.currsize and after.misses == before.misses  # the padded one never went in
