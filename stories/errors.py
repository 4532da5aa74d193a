"""The root of newsbot's errors, importable from every layer (it imports nothing of ours).

Every error a user can act on derives from :class:`NewsbotError`. Its ``str()`` is the
message followed by the chain of causes (``raise ... from exc``), so a log line or the
command line's one-line message says why, not only what; a cause whose text the message
already carries is not repeated.
"""

from __future__ import annotations

__all__ = ["NewsbotError"]


class NewsbotError(Exception):
    """An error newsbot reports to its user; ``str()`` carries the causes."""

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
