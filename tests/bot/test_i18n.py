"""The bot's texts through the real gettext catalogues: every message marked in the code is
translated in Spanish and Russian, keeps its placeholders, and, filled in, is valid Telegram
HTML under 4,096 characters in every language."""

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


def _marked() -> dict[str, str]:
    """Every message marked in bot/**/*.py -> where."""
    found: dict[str, str] = {}
    for path in sorted(BOT.rglob("*.py")):
        for lineno, message, _, _ in extract_from_file("python", str(path), keywords=KEYWORDS):
            ids = message if isinstance(message, tuple) else (message,)
            for msgid in ids:
                found.setdefault(msgid, f"{path.name}:{lineno}")
    return found


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_code_marks_messages() -> None:
    marked = _marked()
    assert len(marked) > 50
    assert "🔔 Subscribe {name}" in marked and "What this bot does" in marked


@pytest.mark.parametrize("language", ["es", "ru"])
def test_every_marked_message_is_translated(language: str) -> None:
    with catalogue_path(language).open("rb") as po:
        catalogue = {m.id: m.string for m in read_po(po) if m.id}
    marked = _marked()
    missing = [f"{where}: {msgid!r}" for msgid, where in marked.items() if not catalogue.get(msgid)]
    assert not missing, f"missing from the {language} catalogue:\n" + "\n".join(missing)
    for msgid in marked:
        translated = str(catalogue[msgid])
        assert _fields(translated) == _fields(msgid), f"{language}: placeholders differ in {msgid!r}"
        assert translator(language).t(msgid) == translated  # the loader compiles and serves it


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_valid_telegram_html_under_the_limit(language: str) -> None:
    tr = translator(language)
    hostile = "<b>&\"'</i>"  # filled in escaped, as the handlers do
    from bot.render import escape

    for msgid in _marked():
        values = {name: escape(hostile) for name in _fields(msgid)}
        text = tr.t(msgid, **values) if values else tr.t(msgid)
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
