"""Errors of the data pipeline: each names what was wrong and what was expected."""
from __future__ import annotations


class DataError(ValueError):
    """Input data (a folder, a label file, a class list, an output folder) is not usable."""


class BadImageError(DataError):
    """One file could not be decoded as an image; the pipeline skips and reports it."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
