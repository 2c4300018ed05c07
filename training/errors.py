"""The training package's one error type for bad requests."""


class ConfigError(ValueError):
    """A bad combination of model, data set and recipe; the message says what to change."""
