"""``domain.construct.built`` makes what ``model_construct`` makes, for every model of the contract."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import BaseModel

import domain.contract as contract
from domain.construct import built
from domain.contract import (Bandit, BanditArm, Consent, DunningCustomer, Invoice, NextActionAnswer, Reason, Reminder,
                             Risk, Task)


def same(a: BaseModel, b: BaseModel, dump: bool = True) -> None:
    assert type(a) is type(b)
    assert list(a.__dict__.items()) == list(b.__dict__.items())  # the same values, in field order
    assert a.model_fields_set == b.model_fields_set
    assert a.__pydantic_extra__ == b.__pydantic_extra__ and a.__pydantic_private__ == b.__pydantic_private__
    if dump:
        assert a.model_dump(mode="json") == b.model_dump(mode="json")
    assert a == b


CASES = [
    (Reason, {"code": "risk.high", "text": "High risk", "source": "rule", "contribution": None}),
    (Reason, {"code": "model.x", "text": "x (+0.10)", "source": "model", "contribution": 0.1, "log_odds": 0.4}),
    (Risk, {"p_late": 0.5, "p_late_30": 0.1, "expected_days_late": 3.0, "model": "m", "version": "1",
            "alias": "champion"}),
    (Bandit, {}),
    (BanditArm, {"channel": "email", "slot": "morning", "day_type": "weekday"}),
    (Task, {"id": None, "type": "call", "name": "Call", "owner": "collections", "due": date(2026, 11, 3),
            "priority": 1.5, "reason": "r"}),
    (Reminder, {"sent_at": datetime(2026, 1, 1, tzinfo=UTC), "channel": "email"}),
    (Consent, {"email": True}),
]


@pytest.mark.parametrize(("cls", "values"), CASES, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(CASES)])
def test_built_is_model_construct(cls: type[BaseModel], values: dict) -> None:
    same(built(cls, **values), cls.model_construct(**values))


def test_a_copied_default_or_a_missing_field_goes_to_model_construct() -> None:
    """A default ``model_construct`` copies per instance (a list, a model) is never shared between instances,
    and a call that leaves out a required field or names an unknown one is built as ``model_construct`` does."""
    a, b = built(Invoice, id="I-1"), built(Invoice, id="I-2")
    assert a.reminders == [] and a.reminders is not b.reminders
    same(a, Invoice.model_construct(id="I-1"))
    customer = built(DunningCustomer, id="C-1", type="business", country="NL")
    same(customer, DunningCustomer.model_construct(id="C-1", type="business", country="NL"))
    same(built(Reason, code="c", nonsense=1), Reason.model_construct(code="c", nonsense=1))


def test_every_model_of_the_contract_has_a_shape_or_falls_back() -> None:
    """Every contract model built with all its fields equals ``model_construct`` (whichever path it takes)."""
    models = [m for m in vars(contract).values()
              if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel]
    assert NextActionAnswer in models
    for cls in models:
        values = {name: f"v-{name}" for name in cls.__pydantic_fields__}
        same(built(cls, **values), cls.model_construct(**values), dump=False)  # not dumped: the values are not typed
