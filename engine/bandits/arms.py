"""Arms: the things a dunning bandit can choose, channel x send-time slot x day type.

Why: the rules decide which arms are allowed for a customer right now (consent,
quiet hours, the legal letter step, disputes); the bandit only ranks the
allowed ones. An arm is a small frozen value with a stable string ``key`` that
names it in logs, in the audit record and in the online store's hash fields.

Example::

    arm = Arm("email", "morning", "weekday")
    arm.key                      # 'email|morning|weekday'
    Arm.parse(arm.key) == arm    # True
    len(all_arms())              # 30
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from domain.errors import InvalidInput
from domain.vocabulary import CHANNELS, DAY_TYPES, SLOT_HOURS, SLOTS


@dataclass(frozen=True, slots=True)
class Arm:
    """One channel at one send-time slot on one day type (all names from ``domain.vocabulary``)."""

    channel: str
    slot: str
    day_type: str

    def __post_init__(self) -> None:
        for name, value, choices in (("channel", self.channel, CHANNELS), ("slot", self.slot, SLOTS),
                                     ("day_type", self.day_type, DAY_TYPES)):
            if value not in choices:
                raise InvalidInput(f"unknown {name} {value!r}; expected one of {list(choices)}",
                                   field=f"arm.{name}")

    @property
    def key(self) -> str:
        return f"{self.channel}|{self.slot}|{self.day_type}"

    @property
    def hour(self) -> int:
        """Local send hour of the slot (``domain.vocabulary.SLOT_HOURS``)."""
        return SLOT_HOURS[self.slot]

    @property
    def weekend(self) -> bool:
        return self.day_type == "weekend"

    @property
    def index(self) -> int:
        """Position in :func:`all_arms` (column of truth and probability matrices)."""
        return _INDEX[self]

    @staticmethod
    def parse(key: str) -> "Arm":
        """The arm named by ``key`` ('channel|slot|day_type'); ``InvalidInput`` otherwise."""
        if not isinstance(key, str) or key.count("|") != 2:
            raise InvalidInput(f"arm key {key!r} is not 'channel|slot|day_type'", field="arm")
        return _BY_KEY.get(key) or Arm(*key.split("|"))


@cache
def all_arms() -> tuple[Arm, ...]:
    """Every arm, channel-major in ``CHANNELS`` x ``SLOTS`` x ``DAY_TYPES`` order."""
    return tuple(Arm(c, s, d) for c in CHANNELS for s in SLOTS for d in DAY_TYPES)


def arms_for_channels(channels: tuple[str, ...] | list[str]) -> tuple[Arm, ...]:
    """All slots and day types of the given channels (e.g. the consented ones)."""
    wanted = set(channels)
    return tuple(a for a in all_arms() if a.channel in wanted)


_INDEX = {a: i for i, a in enumerate(all_arms())}
_BY_KEY = {a.key: a for a in all_arms()}
