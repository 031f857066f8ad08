"""Errors that are the user's to fix, reported as one line."""


class UserError(Exception):
    """Unusable input or arguments: missing file, unknown format, bad option."""
