"""The bot's texts through the real gettext catalogues: every message marked in the code
(``t``, ``N_``, and ``tn`` with every plural form) is translated in Spanish and Russian, keeps
its placeholders, and, filled in, is valid Telegram HTML under 4,096 characters in every
language."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, catalogue_path, choose_language, translator
from tests.fakes.telegram_html import MESSAGE_LIMIT, check_html, visible_length

BOT = Path(__file__).resolve().parents[2] / "bot"
KEYWORDS = {"t": None, "N_": None, "tn": (1, 2)}
Msgid = str | tuple[str, str]  # a plural message is (singular, plural)
COUNTS = (0, 1, 2, 3, 5, 11, 21, 22, 25, 101, 1_000_000)  # every plural form of en/es/ru


def _marked() -> dict[Msgid, str]:
    """Every message marked in bot/**/*.py (a plural as (singular, plural)) -> where."""
    found: dict[Msgid, str] = {}
    for path in sorted(BOT.rglob("*.py")):
        for lineno, message, _, _ in extract_from_file("python", str(path), keywords=KEYWORDS):
            msgid: Msgid = (message[0], message[1]) if isinstance(message, (tuple, list)) else message
            found.setdefault(msgid, f"{path.relative_to(BOT.parent)}:{lineno}")
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


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_valid_telegram_html_under_the_limit(language: str) -> None:
    tr = translator(language)
    for msgid in _marked():
        if isinstance(msgid, tuple):
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
