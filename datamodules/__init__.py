"""LightningDataModules: images decoded once into memory, served as whole batches."""
from .errors import DataError
from .fruits360 import Fruits360DataModule
from .in_memory import InMemoryImageDataModule

__all__ = ["DataError", "Fruits360DataModule", "InMemoryImageDataModule"]
