"""Errors a person can act on. Their message is shown as-is: no traceback needed."""


class NpscsatError(Exception):
    """Base class: the message names the problem and what to do about it."""


class ConfigError(NpscsatError):
    """A setting is missing or invalid; the message names the environment variable."""


class DatabaseUnavailable(NpscsatError):
    """The database cannot be reached (down, wrong host, wrong password)."""
