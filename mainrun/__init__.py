"""mainrun: the Mainrun GPT training library, built from a registry of swappable components."""
from .config import SCALES, RunContext, TrainConfig
from .errors import ConfigError, DataError, MainrunError, OutputError
from .variant import Variant

__all__ = ["SCALES", "ConfigError", "DataError", "MainrunError", "OutputError", "RunContext", "TrainConfig", "Variant"]
__version__ = "0.1.0"
