"""Errors the command line maps to exit codes (kept apart so every module shares one class)."""

from __future__ import annotations


class UsageError(Exception):
    """The command was given something it cannot use; exit code 2."""


class CommandFailed(Exception):
    """The command ran and failed; exit code 1, message shown as is."""


def bad_query(query: str, position: int, reason: str) -> UsageError:
    """A UsageError showing the query with a caret under the problem's position."""
    return UsageError(f"bad query: {reason}\n  {query}\n  {' ' * position}^")
