"""The command line's own errors (kept apart so every module shares one class).

Both derive from ``stories.errors.NewsbotError``, the root the CLI turns into a message and
an exit status; the other layers' errors (ConfigError, StorageError, QueryError, ...) too.
"""

from __future__ import annotations

from stories.errors import EXIT_FAILURE, EXIT_USAGE, NewsbotError


class UsageError(NewsbotError):
    """The command was given something it cannot use; exit code 2."""

    exit_code = EXIT_USAGE


class CommandFailed(NewsbotError):
    """The command ran and failed; exit code 1, message shown as is."""

    exit_code = EXIT_FAILURE


def bad_query(query: str, position: int, reason: str) -> UsageError:
    """A UsageError showing the query with a caret under the problem's position."""
    return UsageError(f"bad query: {reason}\n  {query}\n  {' ' * position}^")
