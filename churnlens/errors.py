"""Typed errors raised by the library.

Only ``cli.py`` turns them into messages and exit codes: every subclass of
:class:`UserInputError` means "the user can fix this" and exits with code 2.
Messages must say what was found, what was expected, and how to fix it.
"""

from __future__ import annotations


class ChurnlensError(Exception):
    """Base class of every error churnlens raises on purpose.

    Parameters
    ----------
    message : str
        What was found, what was expected, how to fix it, naming the argument, config key,
        file or column (never a command-line flag: the CLI adds those).
    argument : str, optional
        The function argument at fault (``"model"``, ``"data"``, ``"previous"`` ...), so a caller
        such as the CLI can name its own spelling of it (``--model``).
    key : str, optional
        The config key at fault (``"value_column"``, ``"report.logo"`` ...).
    """

    def __init__(self, message: str = "", *, argument: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.key = key


class UserInputError(ChurnlensError):
    """Bad input or configuration: the CLI exits with code 2."""


class InputFileError(UserInputError):
    """An input file is missing, unreadable or of an unsupported kind."""


class ConfigError(UserInputError):
    """The YAML configuration is unreadable or has an invalid key or value."""


class DataError(UserInputError):
    """The customer table does not fit the model or the configuration."""


class ModelError(UserInputError):
    """The model file cannot be loaded, is unsupported, or is untrusted."""


class OutputFolderError(UserInputError):
    """The output folder cannot be written or holds files churnlens must not replace.

    Always about the ``out`` argument (the CLI names it ``--out``)."""

    def __init__(self, message: str = "", *, argument: str | None = "out", key: str | None = None) -> None:
        super().__init__(message, argument=argument, key=key)


class UnknownCustomerError(UserInputError):
    """``churnlens customer``: the id is no customer of the report folder (the message never
    lists the folder's ids)."""


class PlaybookError(ConfigError):
    """A retention playbook rule is invalid."""


class AdditivityError(ChurnlensError):
    """Attributions do not add up to the model's raw output (exit code 1: never silenced)."""
