"""Exception types. Every error a user can cause is a :class:`RestoraError` whose message
names the file or parameter at fault and what would be valid, in one line."""

from __future__ import annotations


class RestoraError(Exception):
    """Base class of all errors restora raises on bad input or missing resources."""


class InvalidParameterError(RestoraError, ValueError):
    """A function argument or CLI option is out of its valid range or of the wrong kind."""


class ImageReadError(RestoraError):
    """A file could not be read as an image (missing, truncated, corrupt, not an image)."""


class ImageWriteError(RestoraError):
    """An image could not be written (bad format, unwritable folder, ...)."""


class OutputExistsError(RestoraError, FileExistsError):
    """The output file exists and overwriting was not requested."""


class ImageTooLargeError(RestoraError):
    """The image has more pixels than the configured limit (decompression-bomb guard)."""


class MissingResourceError(RestoraError):
    """A dataset, weights file or optional dependency that the call needs is absent."""


class ConfigError(RestoraError):
    """A YAML/JSON configuration (pipeline, training recipe) is malformed."""
