from .timing import TrainingTimer

__all__ = ["TrainingTimer"]
