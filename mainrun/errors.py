"""Errors a user can fix. The CLIs turn these into one line on stderr and exit status 2."""


class MainrunError(Exception):
    """Base for every error caused by the user's input rather than by a bug."""


class ConfigError(MainrunError, ValueError):
    """An unknown name, an impossible hyperparameter, a malformed spec."""


class DataError(MainrunError):
    """Data that is missing, unreadable, malformed or too small for the configuration."""
