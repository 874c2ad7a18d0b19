"""Engine fixtures: every bandit-state test runs against the in-process and the Redis state."""
from __future__ import annotations

import uuid

import pytest
import redis

from engine.bandits import InProcessState
from features.online.bandit_redis import RedisBanditState


@pytest.fixture(params=["inprocess", "redis"])
def bandit_state(request):
    """Fresh state of each kind; the Redis one on the real throwaway server."""
    if request.param == "inprocess":
        return InProcessState()
    client = request.getfixturevalue("redis_client")
    return RedisBanditState(client, namespace=f"test:{uuid.uuid4().hex[:8]}")


@pytest.fixture(params=["inprocess", "redis"])
def shared_states(request):
    """A factory of states that share one store (one per 'worker')."""
    if request.param == "inprocess":
        state = InProcessState()
        return lambda: state
    url = request.getfixturevalue("redis_url")
    request.getfixturevalue("redis_client")  # flushed
    clients: list = []
    request.addfinalizer(lambda: [c.close() for c in clients])

    def make():
        clients.append(redis.Redis.from_url(url))
        return RedisBanditState(clients[-1], namespace="test:shared")
    return make


# -- matching: a small book of receivables ---------------------------------------------------------

from decimal import Decimal  # noqa: E402

from engine.matching import Invoice, Receivables  # noqa: E402
from ledger.statements.references import make_nl16, make_rf  # noqa: E402

#: IBANs on file: C-1 has two, P-1 is the parent of C-3 (same group), C-9 is unrelated to everyone.
IBAN_C1, IBAN_C1B, IBAN_C2, IBAN_P1, IBAN_C4, IBAN_C9 = (
    "NL91ABNA0417164300", "NL44RABO0123456789", "DE89370400440532013000", "NL39RABO0300065264",
    "BE68539007547034", "NL32INGB0000012345")
UNKNOWN_IBAN = "NL69INGB0123456789"


def invoice(seq: int, customer: str, open_amount: str, nl: bool = False) -> Invoice:
    """An invoice numbered INV-<seq> with its RF (or, ``nl``, Dutch 16-digit) reference."""
    ref = make_nl16(f"{seq:015d}") if nl else make_rf(f"{seq:08d}")
    return Invoice(f"INV-{seq:08d}", customer, f"INV-{seq:08d}", ref, Decimal(open_amount))


@pytest.fixture()
def receivables() -> Receivables:
    """C-1's 1234 has a one-typo neighbour 1243 of C-2 with the same open amount (the trap)."""
    return Receivables(
        invoices=(
            invoice(1234, "C-1", "100.00"), invoice(1235, "C-1", "250.00"), invoice(1299, "C-1", "40.00"),
            invoice(1000, "C-1", "0"),  # paid last month
            invoice(1243, "C-2", "100.00"), invoice(2000, "C-2", "500.00", nl=True),
            invoice(3000, "C-3", "80.00"), invoice(3100, "P-1", "999.00"),
            invoice(4001, "C-4", "60.00"), invoice(4002, "C-4", "40.00"), invoice(4003, "C-4", "100.00"),
        ),
        ibans={"C-1": (IBAN_C1, IBAN_C1B), "C-2": (IBAN_C2,), "P-1": (IBAN_P1,), "C-4": (IBAN_C4,),
               "C-9": (IBAN_C9,)},
        groups={"C-3": "P-1", "P-1": "P-1"},
    )
