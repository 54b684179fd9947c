from .gc_freeze import FrozenHeapDuringFit
from .progress_bar import ThrottledRichProgressBar
from .rng_state import RNGStateCheckpoint
from .timing import TrainingTimer

__all__ = ["FrozenHeapDuringFit", "RNGStateCheckpoint", "ThrottledRichProgressBar", "TrainingTimer"]
