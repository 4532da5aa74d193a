"""Configuration: one TOML file loaded into validated pydantic models.

Nothing is read at import time. `load_config()` is the only entry point; it finds the
file (``--config``, then ``$NEWSBOT_CONFIG``, then ``./config.toml``, then the bundled
example), applies the environment overrides and reports every problem as
``FILE: key.path: what is wrong``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)

from storage.db import url_password
from stories.errors import EXIT_USAGE, NewsbotError
from stories.query import QueryError, parse
from stories.schedule import parse_schedule, resolve_timezone

DEFAULT_CONFIG_NAME = "config.toml"
EXAMPLE_CONFIG_NAME = "config.example.toml"
TOKEN_ENV = "NEWSBOT_TELEGRAM_TOKEN"
DATABASE_ENV = "NEWSBOT_DATABASE_URL"
CONFIG_ENV = "NEWSBOT_CONFIG"


class ConfigError(NewsbotError):
    """A configuration problem a user can fix; ``str()`` names the file and the key."""

    exit_code = EXIT_USAGE


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_SECRET_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT = 12


def check_webhook_secret(value: str) -> str:
    """``value`` if it is a webhook secret of enough entropy, else a ValueError saying why.

    Telegram allows 1-256 characters from ``A-Z a-z 0-9 _ -``; we ask for at least 32 of
    them, not repetitive, which random secrets (``secrets.token_urlsafe(32)``) always meet.
    """
    if len(value) > 256 or not _SECRET_CHARS.match(value):
        raise ValueError("must be 1-256 characters from A-Z, a-z, 0-9, _ and - (Telegram's rule)")
    if len(value) < MIN_SECRET_LENGTH or len(set(value)) < MIN_SECRET_DISTINCT:
        raise ValueError(
            f"too weak: use at least {MIN_SECRET_LENGTH} random characters (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or leave it empty "
            "and newsbot generates one on first start and keeps it in the database"
        )
    return value


class WebhookConfig(_Section):
    """Where python-telegram-bot's webhook server listens and what Telegram is told.

    The server listens on 127.0.0.1 by default (a reverse proxy in front terminates TLS).
    An empty ``secret_token`` means: generate one on first start and keep it in the
    database, so every bot process sharing that database uses the same one.
    """

    listen: str = "127.0.0.1"
    port: PositiveInt = 8443
    url: str = ""
    secret_token: str = ""

    @field_validator("secret_token")
    @classmethod
    def _secret_token(cls, value: str) -> str:
        return check_webhook_secret(value) if value else value

    def __repr__(self) -> str:  # the secret must never reach a log line
        return f"WebhookConfig(listen={self.listen!r}, port={self.port!r}, url={self.url!r})"

    __str__ = __repr__


class TelegramConfig(_Section):
    """The bot's identity and how it talks to the Bot API."""

    token: str = ""
    base_url: str = "https://api.telegram.org/bot"
    admins: tuple[int, ...] = ()
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookConfig = WebhookConfig()
    max_stories_per_chat: PositiveInt = 20
    max_query_length: PositiveInt = 300
    metrics_listen: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)

    def __repr__(self) -> str:  # the token must never reach a log line
        return f"TelegramConfig(base_url={self.base_url!r}, admins={self.admins!r}, mode={self.mode!r})"

    __str__ = __repr__


class DatabaseConfig(_Section):
    """Where items, stories and the outbox live."""

    url: str = "sqlite:///newsbot.db"

    @property
    def display_url(self) -> str:
        """The URL with its password masked: what every message and log line shows."""
        from .observability import mask_url

        return mask_url(self.url)

    @property
    def password(self) -> str | None:
        """The password in the URL, if any (to redact it from logs)."""
        return url_password(self.url)

    def __repr__(self) -> str:
        return f"DatabaseConfig(url={self.display_url!r})"

    __str__ = __repr__


class FetchConfig(_Section):
    """How feeds are polled: politeness, limits, and the SSRF guard."""

    interval: PositiveFloat = 900.0
    jitter: float = Field(0.1, ge=0, lt=1)
    concurrency: PositiveInt = 20
    per_host_concurrency: PositiveInt = 2
    timeout: PositiveFloat = 20.0
    connect_timeout: PositiveFloat = 10.0
    max_body_bytes: PositiveInt = 10_000_000
    max_redirects: int = Field(5, ge=0, le=20)
    user_agent: str = "newsbot/0.1 (+https://github.com/newsbot/newsbot; feed reader)"
    allow_private_networks: bool = False
    allow_local_files: bool = False
    proxy: str = ""
    max_consecutive_errors: PositiveInt = 10
    backoff_max: PositiveFloat = 86_400.0
    retry_after_max: PositiveFloat = 86_400.0
    parse_workers: int = Field(0, ge=0, le=64)
    allowed_networks: tuple[str, ...] = ()


class WorkerConfig(_Section):
    """``newsbot worker`` (PostgreSQL only): how workers share the due feeds, and their metrics."""

    batch_size: PositiveInt = 50
    lease_seconds: PositiveFloat = 120.0
    idle_seconds: PositiveFloat = 5.0
    shutdown_grace: float = Field(30.0, ge=0)
    track: bool = True
    metrics_listen: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)


class DigestConfig(_Section):
    """Defaults for chats that subscribe without naming a schedule, and breaking alerts."""

    schedule: str = "daily 08:00"
    timezone: str = "UTC"
    breaking_outlets: PositiveInt = 4
    breaking_window: PositiveFloat = 3600.0
    max_developments: PositiveInt = 30

    # The same rules as /subscribe and /timezone (stories.schedule), so what `config check`
    # passes the bot accepts; values are kept in their canonical form ("daily 8:05" -> "daily 08:05").
    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return str(parse_schedule(value))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return resolve_timezone(value).key


class TrackerSettings(_Section):
    """The story tracker: which sentence encoder it uses (``"none"``: lexical only)."""

    encoder: Literal["use", "none"] = "use"


class StorageConfig(_Section):
    """Retention of stored items."""

    keep_days: PositiveInt = 30


class FeedSeed(_Section):
    """A feed to add on first start."""

    url: str
    title: str = ""


class StorySeed(_Section):
    """A global story to add on first start."""

    name: str = Field(min_length=1, max_length=64)
    query: str = Field(min_length=1)

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        try:
            parse(value)
        except QueryError as exc:
            raise ValueError(f"bad query: {exc}") from None
        return value


class Config(_Section):
    """The whole configuration. ``path`` is the file it came from (None for defaults)."""

    telegram: TelegramConfig = TelegramConfig()
    database: DatabaseConfig = DatabaseConfig()
    fetch: FetchConfig = FetchConfig()
    worker: WorkerConfig = WorkerConfig()
    digest: DigestConfig = DigestConfig()
    storage: StorageConfig = StorageConfig()
    tracker: TrackerSettings = TrackerSettings()
    feeds: tuple[FeedSeed, ...] = ()
    stories: tuple[StorySeed, ...] = ()
    path: Path | None = Field(default=None, exclude=True)

    def secrets(self) -> tuple[str, ...]:
        """Every secret in this config (token, webhook secret, database password), for the log
        redaction filter."""
        values = (self.telegram.token, self.telegram.webhook.secret_token, self.database.password)
        return tuple(v for v in values if v)


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the config file to use: explicit, ``$NEWSBOT_CONFIG``, ``./config.toml``, example."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path(DEFAULT_CONFIG_NAME)
    if local.exists():
        return local
    for candidate in (
        Path(EXAMPLE_CONFIG_NAME),
        Path(__file__).resolve().parent.parent / EXAMPLE_CONFIG_NAME,
    ):
        if candidate.exists():
            return candidate
    raise ConfigError(
        f"no configuration found: pass --config PATH, set {CONFIG_ENV}, "
        f"or copy {EXAMPLE_CONFIG_NAME} to {DEFAULT_CONFIG_NAME}"
    )


def _describe(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return f"{loc}: unknown setting (check the spelling against config.example.toml)"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    elif kind.endswith("_parsing") or kind.endswith("_type") or kind.startswith("greater_than"):
        message = f"{message[0].lower()}{message[1:]}, got {value!r}"
    return f"{loc}: {message}"


def parse_config(
    text: str, *, source: str = DEFAULT_CONFIG_NAME, env: Mapping[str, str] | None = None
) -> Config:
    """Parse TOML text into a validated Config; raise ConfigError naming ``source`` and the key."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: malformed TOML: {exc}") from None
    if env.get(TOKEN_ENV):
        raw.setdefault("telegram", {})["token"] = env[TOKEN_ENV]
    if env.get(DATABASE_ENV):
        raw.setdefault("database", {})["url"] = env[DATABASE_ENV]
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None
    names = [story.name.casefold() for story in config.stories]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{source}: stories: duplicate story name {duplicates[0]!r}")
    return config


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Find, read and validate the configuration file."""
    path = find_config(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, source=str(path)).model_copy(update={"path": path})
