"""Optimisers and learning-rate schedules."""
from tinyalex.optim.momentum_sgd import MomentumSGD
from tinyalex.optim.schedule import ReduceLROnPlateau

__all__ = ["MomentumSGD", "ReduceLROnPlateau"]
