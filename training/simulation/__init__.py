"""The order-to-cash simulator and its ground-truth reminder response."""
from training.simulation.response import (WINDOW_DAYS, paid_within_window_of_decision, response_logit,
                                          response_probability)
from training.simulation.simulator import SimulationConfig, simulate, simulate_with_truth, summarize

__all__ = ["SimulationConfig", "simulate", "simulate_with_truth", "summarize", "response_probability", "response_logit",
           "WINDOW_DAYS", "paid_within_window_of_decision"]
