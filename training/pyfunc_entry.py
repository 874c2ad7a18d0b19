"""Entry file for MLflow's models-from-code logging (see :mod:`training.pyfunc`)."""
import mlflow

from training.pyfunc import PaymentDelayPyfunc

mlflow.models.set_model(PaymentDelayPyfunc())
