"""The MLflow pyfunc flavour of :class:`training.model.PaymentDelayModel`.

Why a custom pyfunc: ``mlflow.pyfunc.load_model(uri).predict(df)`` must return
the five risk outputs (probabilities and days), not class labels, so any
MLflow consumer (batch scoring, ``mlflow models serve``) gets what Kredo
serves. The model is logged *from code* (``training/pyfunc_entry.py``), so the
artifact holds no pickle: the boosters and ``model.json`` live under the
artifact key :data:`ARTIFACT_KEY` and are checked by their SHA-256 on load.
"""
from __future__ import annotations

import mlflow
import pandas as pd

from training.model import PaymentDelayModel

ARTIFACT_KEY = "payment_delay"


class PaymentDelayPyfunc(mlflow.pyfunc.PythonModel):
    """Loads the saved model from the run's artifacts; ``predict`` returns the outputs frame."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.model = PaymentDelayModel.load(context.artifacts[ARTIFACT_KEY])

    def predict(self, context: mlflow.pyfunc.PythonModelContext | None, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        return self.model.predict(pd.DataFrame(model_input))
