"""Regret ordering on a 30,000-reminder stream (the benchmark's 100,000, shortened), and the bench script."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.bandits import VowpalWabbitSquareCB, build_stream, learners, vw_example
from engine.bandits import Arm, Context, InProcessState, ThompsonSampling, UniformRandom, all_arms
from engine.bandits.regret import PolicyLearner, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results():
    return run(learners(seed=7), build_stream(30_000, seed=7), batch=500, seed=7)


def test_contextual_policy_has_the_lowest_regret(results):
    ours = results["linear_ts"].regret
    assert all(ours < r.regret for name, r in results.items() if name != "linear_ts"), \
        {n: r.regret for n, r in results.items()}
    assert results["linear_ts"].paid_rate == max(r.paid_rate for r in results.values())


def test_thompson_within_ten_percent_of_mabwiser(results):
    assert results["thompson"].regret <= 1.1 * results["mabwiser_ts"].regret


def test_learning_beats_the_fixed_policies(results):
    for name in ("thompson", "linear_ts", "mabwiser_ts", "mabwiser_linucb", "vw_squarecb"):
        assert results[name].regret < results["static"].regret < results["uniform"].regret
    assert np.all(np.diff(results["linear_ts"].curve()) >= 0)  # regret is never negative


def test_runs_are_reproducible():
    stream = build_stream(2_000, seed=3)
    a, b = (run([PolicyLearner(ThompsonSampling(state=InProcessState()))], stream, batch=200, seed=3)["thompson"]
            for _ in range(2))
    assert np.array_equal(a.regrets, b.regrets) and a.paid_rate == b.paid_rate


def test_vw_squarecb_is_seeded_and_learns_on_a_short_stream():
    stream = build_stream(3_000, seed=3)
    a, b = (run([VowpalWabbitSquareCB(seed=3)], stream, batch=200, seed=3)["vw_squarecb"] for _ in range(2))
    uniform = run([PolicyLearner(UniformRandom())], stream, batch=200, seed=3)["uniform"]
    assert np.array_equal(a.regrets, b.regrets)
    assert a.regret < 0.8 * uniform.regret


def test_vw_examples_carry_the_linear_policys_features_and_the_label():
    allowed = (Arm("email", "morning", "weekday"), Arm("sms", "evening", "weekend"))
    lines = vw_example(Context("student", p_late=0.25, step=2), allowed, label=(1, 0.0, 0.4))
    assert lines == ["shared |p student |x p_late:0.250000 step:1", "|a email",
                     "0:0.0:0.400000 |a sms evening weekend"]


def test_vw_learns_only_the_batch_it_chose():
    stream = build_stream(10, seed=3)
    vw = VowpalWabbitSquareCB(seed=3)
    arms = vw.choose_batch(stream.contexts, stream.allowed, np.random.default_rng(3))
    with pytest.raises(ValueError):
        vw.learn_batch(stream.contexts[1:], arms[1:], np.zeros(9), [])
    vw.learn_batch(stream.contexts, arms, np.ones(10), [f"r{t}" for t in range(10)])


def test_bench_script_prints_json_table_and_plot(tmp_path):
    plot = tmp_path / "regret.png"
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bandits.py"), "--reminders", "3000",
                          "--latency-n", "200", "--plot", str(plot), "--json"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    for name in ("uniform", "static", "thompson", "linear_ts", "mabwiser_ts", "mabwiser_linucb", "vw_squarecb"):
        assert set(figures[name]) == {"regret", "paid_rate", "sent_within_24h"} and 0 <= figures[name]["paid_rate"] <= 1
        assert 0 <= figures[name]["sent_within_24h"] <= 1
    assert {"thompson_p99_ms", "linear_ts_p99_ms"} <= set(figures["latency_redis"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "mabwiser_linucb" in out.split("==")[0]  # the human table comes first


def test_the_stream_prices_the_send_delay_in():
    """A reminder decided on Monday morning and sent by a weekend arm waits five days: only the part of
    its week after Saturday can bring the cash, so its truth is far below the same arm sent at once."""
    from bench.bandits import arm_delays

    delays = arm_delays()
    monday, weekend = delays[0], [a.index for a in all_arms() if a.weekend]
    assert monday[weekend].min() > 5.0 and monday[[a.index for a in all_arms() if not a.weekend]].max() < 1.0
    stream = build_stream(2_000, seed=3)
    assert stream.delays.shape == stream.truth.shape and (stream.truth <= 1).all()
    uniform = run([PolicyLearner(UniformRandom())], stream, seed=3)["uniform"]
    assert 0.3 < uniform.sent_within_24h < 0.8
