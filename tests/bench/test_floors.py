"""The floors ``bench/serving.py`` measures beside a checkout: gunicorn's bare app and a one-route Flask app."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from bench.serving import floor


def _body(i: int) -> bytes:
    return (b'{"request_id":"floor-%d","customer":{"id":"C1","type":"business","country":"NL"},'
            b'"order":{"amount":10.00,"currency":"EUR","payment_terms_days":30}}' % i)


@pytest.mark.parametrize("app", ["bare", "flask"])
def test_a_floor_app_answers_every_checkout_under_gunicorn_and_its_cpu_per_request_is_measured(app: str) -> None:
    args = SimpleNamespace(workers=1, threads=1, concurrency=2, seconds=0.6)
    cpu_ms = floor(app, dict(os.environ), args, _body)  # asserts itself that no answer was other than 2xx
    assert 0.0 < cpu_ms < 50.0
