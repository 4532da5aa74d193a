"""The bot's texts through the real gettext catalogues: every message marked in the code
(``t``, ``N_``, and ``tn`` / ``Nn_`` with every plural form; in ``stories/`` the core's error
messages, marked ``N_`` / ``Nn_``) is translated in Spanish and Russian, keeps its placeholders,
and, filled in, is valid Telegram HTML under 4,096 characters in every language."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from bot.commands.common import say
from bot.i18n import LANGUAGES, Translator, catalogue_path, choose_language, translator
from stories.errors import Message, Plural
from tests.fakes.telegram_html import MESSAGE_LIMIT, check_html, visible_length

ROOT = Path(__file__).resolve().parents[2]
# Where messages are marked, and by what: the bot's texts, and the core's errors the bot shows.
MARKED = {
    ROOT / "bot": {"t": None, "N_": None, "tn": (1, 2), "Nn_": (1, 2)},
    ROOT / "stories": {"N_": None, "Nn_": (1, 2)},
}
Msgid = str | tuple[str, str]  # a plural message is (singular, plural)
COUNTS = (0, 1, 2, 3, 5, 11, 21, 22, 25, 101, 1_000_000)  # every plural form of en/es/ru


def _marked() -> dict[Msgid, str]:
    """Every message marked in bot/**/*.py and stories/**/*.py (a plural as (singular, plural))
    -> where."""
    found: dict[Msgid, str] = {}
    for tree, keywords in MARKED.items():
        for path in sorted(tree.rglob("*.py")):
            for lineno, message, _, _ in extract_from_file("python", str(path), keywords=keywords):
                msgid: Msgid = (message[0], message[1]) if isinstance(message, (tuple, list)) else message
                found.setdefault(msgid, f"{path.relative_to(ROOT)}:{lineno}")
    return found


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _fill(text: str, *, plural: bool = False) -> dict[str, str]:
    """Hostile values for ``text``'s placeholders, escaped as the handlers put them in (a
    plural's ``{n}`` is the count, filled by ``tn``)."""
    from bot.render import escape

    return {name: escape("<b>&\"'</i>") for name in _fields(text) if not (plural and name == "n")}


def test_the_code_marks_messages() -> None:
    marked = _marked()
    assert len(marked) > 50
    assert "🔔 Subscribe {name}" in marked and "What this bot does" in marked
    # render, the commands' refusals and errors, /watch, /feeds, /status, /timezone, plurals
    for msgid in (
        "Digest",
        "(continued)",
        "No developments yet.",
        "No results for {query}. Try fewer or different keywords.",
        "I cannot find {chat}: add me there as an admin first.",
        "Only bot admins can {what} (your user id is {id}).",
        "📡 <b>Feeds</b>: {n}, {healthy} healthy",
        "Time zone set to {zone}; it is now {when} there.",
        ("+{n} more source", "+{n} more sources"),
        # the core's errors and the bot's own: schedules, time zones, alerts, queries, filters
        "{text} is not a schedule: {help}",
        "unknown time zone {name} (use a name like Europe/Madrid or UTC)",
        "{text} is not an alert threshold: {help}",
        "unclosed quote",
        ("nested too deeply (at most {n} level)", "nested too deeply (at most {n} levels)"),
        "instant (breaking alerts)",
        "that is not a valid URL",
        "since: takes a number of days, e.g. since:7d",
        (
            "… and {n} more development: /story NAME lists them all.",
            "… and {n} more developments: /story NAME lists them all.",
        ),
    ):
        assert msgid in marked, msgid


@pytest.mark.parametrize("language", ["es", "ru"])
def test_every_marked_message_is_translated(language: str) -> None:
    with catalogue_path(language).open("rb") as po:
        read = read_po(po, locale=language)
    catalogue: dict[Msgid, object] = {}
    for m in read:
        if m.id:
            catalogue[(m.id[0], m.id[1]) if isinstance(m.id, (tuple, list)) else m.id] = m.string
    marked = _marked()

    def translated(msgid: Msgid) -> bool:
        found = catalogue.get(msgid)
        if isinstance(msgid, tuple):  # every plural form of the language, each non-empty
            return isinstance(found, tuple) and len(found) == read.num_plurals and all(found)
        return isinstance(found, str) and bool(found)

    missing = [f"{where}: {msgid!r}" for msgid, where in marked.items() if not translated(msgid)]
    assert not missing, f"missing from the {language} catalogue:\n" + "\n".join(missing)
    tr = translator(language)
    for msgid in marked:
        if isinstance(msgid, tuple):
            forms = catalogue[msgid]
            assert isinstance(forms, tuple)
            for form in forms:
                assert _fields(form) - {"n"} == _fields(msgid[1]) - {"n"}, (
                    f"{language}: placeholders differ in {msgid!r}"
                )
            # the loader compiles and serves every form, each for the counts it is meant for
            assert {tr._ngettext(*msgid, n) for n in COUNTS} == set(forms)
        else:
            text = str(catalogue[msgid])
            assert _fields(text) == _fields(msgid), f"{language}: placeholders differ in {msgid!r}"
            assert tr.t(msgid) == text  # the loader compiles and serves it


HOSTILE = "<b>&\"'</i>"


def _said(tr: Translator, msgid: Msgid) -> list[str]:
    """A message of the core as the bot shows it (``say``: a plain-text template, escaped),
    filled with hostile values (and every count of a plural)."""
    if isinstance(msgid, tuple):
        plural = Plural(*msgid)
        values: dict[str, object] = {name: HOSTILE for name in _fields(msgid[1]) if name != "n"}
        return [say(tr, Message(plural, {**values, "n": n})) for n in COUNTS]
    return [say(tr, Message(msgid, dict.fromkeys(_fields(msgid), HOSTILE)))]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_valid_telegram_html_under_the_limit(language: str) -> None:
    tr = translator(language)
    for msgid, where in _marked().items():
        if where.startswith("stories/"):
            texts = _said(tr, msgid)
        elif isinstance(msgid, tuple):
            texts = [tr.tn(*msgid, n, **_fill(msgid[1], plural=True)) for n in COUNTS]
        else:
            values = _fill(msgid)
            texts = [tr.t(msgid, **values) if values else tr.t(msgid)]
        for text in texts:
            visible = check_html(text)
            assert visible_length(visible) < MESSAGE_LIMIT
            assert not re.search(r"\{\w+\}", text), f"unfilled placeholder in {text!r}"


def test_help_is_translated_and_valid() -> None:
    from bot.commands import help_text

    texts = {lang: help_text(translator(lang)) for lang in LANGUAGES}
    assert "sigue historias" in texts["es"] and "следит за" in texts["ru"]
    for text in texts.values():
        check_html(text)
        assert visible_length(check_html(text)) < MESSAGE_LIMIT


def test_language_choice() -> None:
    assert choose_language("ru", "es-ES") == "ru"
    assert choose_language(None, "es-ES") == "es"
    assert choose_language(None, "de") == "en"
    assert choose_language(None, None) == "en"
