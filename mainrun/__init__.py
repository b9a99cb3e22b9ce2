"""mainrun: the Mainrun GPT training library, built from a registry of swappable components."""
from .config import SCALES, TrainConfig, Variant
from .errors import ConfigError, DataError, MainrunError

__all__ = ["SCALES", "ConfigError", "DataError", "MainrunError", "TrainConfig", "Variant"]
__version__ = "0.1.0"
