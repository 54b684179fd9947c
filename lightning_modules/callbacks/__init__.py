from .rng_state import RNGStateCheckpoint
from .timing import TrainingTimer

__all__ = ["RNGStateCheckpoint", "TrainingTimer"]
