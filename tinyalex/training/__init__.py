"""Training, evaluation and prediction: the workflow behind `tinyalex train / evaluate / predict`."""
from tinyalex.training.checkpoint import CheckpointError, load_checkpoint, load_model
from tinyalex.training.datasets import open_datasets
from tinyalex.training.evaluate import evaluate, evaluate_checkpoint
from tinyalex.training.predict import Prediction, predict_checkpoint, predict_images
from tinyalex.training.trainer import NonFiniteLossError, Trainer, fit

__all__ = [
    "CheckpointError", "NonFiniteLossError", "Prediction", "Trainer", "evaluate", "evaluate_checkpoint", "fit",
    "load_checkpoint", "load_model", "open_datasets", "predict_checkpoint", "predict_images",
]
