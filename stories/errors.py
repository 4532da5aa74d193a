"""The root of newsbot's errors, importable from every layer (it imports nothing of ours).

Every error a user can act on derives from :class:`NewsbotError`. Its ``str()`` is the
message followed by the chain of causes (``raise ... from exc``), so a log line or the
command line's one-line message says why, not only what; a cause whose text the message
already carries is not repeated.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "NewsbotError"]

EXIT_FAILURE = 1  # the command ran and failed
EXIT_USAGE = 2  # the command was given something it cannot use (arguments, config, a query)


class NewsbotError(Exception):
    """An error newsbot reports to its user; ``str()`` carries the causes.

    ``exit_code`` is the command line's exit status when one reaches it: ``EXIT_USAGE`` for
    errors in what the user gave, ``EXIT_FAILURE`` (the default) for everything else.
    """

    exit_code: ClassVar[int] = EXIT_FAILURE

    def __str__(self) -> str:
        text = super().__str__()
        cause = self.__cause__
        seen: set[int] = set()
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            # A NewsbotError cause: its own message only; the loop walks on to its causes.
            said = Exception.__str__(cause) if isinstance(cause, NewsbotError) else str(cause)
            said = said or type(cause).__name__
            if said not in text:
                text = f"{text}: {said}" if text else said
            cause = cause.__cause__
        return text
