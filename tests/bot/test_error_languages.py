"""The core's errors in the chat's language, end to end through the real python-telegram-bot and
the fake Bot API server: a Spanish group (its chat setting; the admin asking writes no language)
sending a bad schedule to /subscribe, an unknown time zone to /timezone, a malformed query or
filter to /search, a bad alert threshold and a bad feed URL gets Spanish texts, valid Telegram
HTML with the parts it typed escaped; the schedules /subscriptions lists are Spanish too."""

from __future__ import annotations

from bot.services import Services
from storage import chats as chat_store
from storage.repository import Storage
from tests.bot.conftest import ALICE, GROUP, Chatter, addressed, make_config, running, valid_text
from tests.fakes.telegram_api import FakeTelegram


async def test_a_spanish_chat_gets_the_cores_errors_in_spanish(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    await store.add_story("sudan", "Sudan OR Khartoum", user_name="test")
    await chat_store.upsert_chat(
        store, GROUP.id, type="group", title=GROUP.title, username=None, timezone="UTC"
    )
    await chat_store.set_chat_language(store, GROUP.id, "es")
    chatter = Chatter(tg)
    commands = {
        "schedule": "/subscribe sudan <b>weekly",
        "time": "/subscribe sudan daily 25:00",
        "every": "/subscribe sudan every 2m",
        "alerts": "/subscribe sudan daily 08:00 alerts:0/30m",
        "zone": "/timezone Mars/<Base>",
        "query": '/search Khartoum ("El Fasher"',
        "dangling": "/search Sudan OR",
        "since": "/search Sudan since:week",
        "filter": "/story sudan outlet:reuters",
        "feed": "/feed add ftp://<feeds>.example/rss",
        "instant": "/subscribe sudan instant",
    }
    async with running(Services(config, store)):
        sent = {
            key: await chatter.ask(GROUP, addressed(GROUP, text), ALICE) for key, text in commands.items()
        }
        sent["list"] = await chatter.ask(GROUP, addressed(GROUP, "/subscriptions"), ALICE)
    texts = {key: valid_text(messages) for key, messages in sent.items()}
    # what was typed is escaped, not taken as markup
    assert "&lt;b&gt;weekly" in sent["schedule"][0].text and "Mars/&lt;Base&gt;" in sent["zone"][0].text

    assert texts["schedule"] == (
        '❌ \'<b>weekly\' no es un horario: un horario es "daily 08:00" (o "daily 08:00,20:00"), '
        '"every 6h", "every 30m", "instant" u "off"'
    )
    assert texts["time"] == "❌ 'daily 25:00': '25:00' no es una hora (HH:MM, de 00:00 a 23:59)"
    assert texts["every"] == "❌ 'every 2m': el intervalo debe estar entre 5m y 168h"
    assert texts["alerts"].startswith("❌ '0/30m': hace falta al menos 1 medio; un umbral de alerta es ")
    assert texts["zone"] == (
        "❌ zona horaria desconocida: 'Mars/<Base>' (usa un nombre como Europe/Madrid o UTC)"
    )
    assert texts["query"].startswith("❌ Consulta no válida: paréntesis sin cerrar en la posición 9:\n")
    assert 'Khartoum ("El Fasher"' in texts["query"]  # with a caret under the parenthesis
    assert texts["dangling"].startswith(
        "❌ Consulta no válida: falta una palabra junto a OR en la posición 6:"
    )
    assert texts["since"] == "❌ since: lleva un número de días, p. ej. since:7d"
    assert texts["filter"] == "❌ outlet: no se admite aquí; filtros: since:"
    assert texts["feed"] == (
        "❌ ftp://<feeds>.example/rss: la URL de un feed empieza por http:// o https:// y lleva un dominio."
    )
    assert "al instante (alertas de última hora)" in texts["instant"]
    assert "sudan — al instante (alertas de última hora)" in texts["list"]
    english = ("is not", "must be", "unknown time zone", "unclosed", "dangling", "takes a number")
    for key, text in texts.items():
        assert not any(phrase in text for phrase in english), (key, text)
