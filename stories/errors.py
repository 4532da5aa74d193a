"""The root of newsbot's errors, importable from every layer (it imports nothing of ours).

Every error a user can act on derives from :class:`NewsbotError`. Its ``str()`` is the
message followed by the chain of causes (``raise ... from exc``), so a log line or the
command line's one-line message says why, not only what; a cause whose text the message
already carries is not repeated.

An error people may see in the bot can carry its message as a :class:`Message`: a template
marked ``N_("...")`` (``Nn_(singular, plural)`` for a count ``{n}``) and its values, so the bot
can show it translated (``bot.commands.common.say``) while ``str()`` stays the English text for
the command line and the logs. The bot's catalogue test reads the marks in ``stories/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "N_", "Message", "NewsbotError", "Nn_", "Plural"]

EXIT_FAILURE = 1  # the command ran and failed
EXIT_USAGE = 2  # the command was given something it cannot use (arguments, config, a query)


def N_(message: str) -> str:
    """Marks ``message`` for the bot's catalogue (a no-op: it is translated where it is shown)."""
    return message


class Plural(NamedTuple):
    """A message with a count ``{n}``: its English singular and plural."""

    singular: str
    plural: str


def Nn_(singular: str, plural: str) -> Plural:
    """Marks a message with a count ``{n}`` for the bot's catalogue."""
    return Plural(singular, plural)


@dataclass(frozen=True, slots=True)
class Message:
    """A text for people: a marked ``template`` (``{name}`` placeholders; a :class:`Plural`
    picks its form by ``params["n"]``) and the values to fill it with. A value is text, a
    number, or a Message of its own (translated too). ``str()`` is the English text."""

    template: str | Plural
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        template = self.template
        if isinstance(template, Plural):
            template = template.singular if self.params.get("n") == 1 else template.plural
        return template.format(**{name: str(value) for name, value in self.params.items()})


class NewsbotError(Exception):
    """An error newsbot reports to its user; ``str()`` carries the causes.

    ``exit_code`` is the command line's exit status when one reaches it: ``EXIT_USAGE`` for
    errors in what the user gave, ``EXIT_FAILURE`` (the default) for everything else.
    Made with one :class:`Message`, its ``message`` is that (to show it translated); else None.
    """

    exit_code: ClassVar[int] = EXIT_FAILURE
    message: Message | None = None

    def __init__(self, *args: object) -> None:
        # One Message: the error's text is its English form, the Message is kept to translate.
        message = args[0] if len(args) == 1 and isinstance(args[0], Message) else None
        super().__init__(*((str(message),) if message is not None else args))
        self.message = message

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
