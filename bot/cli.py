"""The ``newsbot`` command line.

Exit codes: 0 ok, 2 bad usage or configuration, 1 runtime failure. Commands whose
output is data take ``--json`` and then print exactly one JSON object on stdout;
progress and diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import pathlib
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Config, load_config
from bot.errors import UsageError
from stories.errors import EXIT_FAILURE, NewsbotError
from stories.errors import EXIT_USAGE as EXIT_USAGE  # this module's name for it before

log = logging.getLogger("newsbot")

EXIT_OK = 0


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w`` ago, or an ISO date/datetime (UTC if no zone)."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        seconds = {"m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
        return now - timedelta(seconds=amount * seconds)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"--since: expected e.g. 7d, 12h or 2026-11-01, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _run_async(factory: Callable[[], Awaitable[int]]) -> int:
    return asyncio.run(factory())  # type: ignore[arg-type]


# ----------------------------------------------------------------- commands


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate the configuration file and summarise it."""
    config = _config(args)
    summary = {
        "file": str(config.path),
        "database": config.database.display_url,  # never the password, in text or JSON
        "telegram": "token set" if config.telegram.token else "no token (terminal mode)",
        "mode": config.telegram.mode,
        "feeds": len(config.feeds),
        "stories": [s.name for s in config.stories],
    }
    if args.json:
        _print_json({"ok": True, **summary})
    else:
        print(f"{config.path}: OK")
        for key, value in summary.items():
            if key != "file":
                print(f"  {key}: {value}")
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply database migrations up to the newest (under the migration lock, as ``run`` does)."""
    from storage.db import current_revision
    from storage.locks import upgrade_once

    config = _config(args)
    upgrade_once(config.database.url)
    print(f"database at revision {current_revision(config.database.url)}: {config.database.display_url}")
    return EXIT_OK


def cmd_db_reindex(args: argparse.Namespace) -> int:
    """Rebuild the full-text search index from the stored items."""
    from bot.storage_access import open_storage
    from storage.search import rebuild_index

    async def reindex() -> int:
        async with open_storage(_config(args), seed=False) as storage:
            count = await rebuild_index(storage.engine)
        print(f"search index rebuilt: {count} items")
        return EXIT_OK

    return _run_async(reindex)


def cmd_db_prune(args: argparse.Namespace) -> int:
    """Delete old items now (``run`` does it daily)."""
    from bot.maintenance import prune_old_items
    from bot.storage_access import open_storage

    config = _config(args)

    async def prune() -> int:
        async with open_storage(config, seed=False) as storage:
            count = await prune_old_items(storage, config)
        print(f"pruned {count} items older than {config.storage.keep_days} days")
        return EXIT_OK

    return _run_async(prune)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot: fetch, track, digests and Telegram in one process."""
    from bot.app import run

    return run(_config(args), fetch=not args.no_fetch)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a fetch-and-track worker (PostgreSQL deployments)."""
    from bot.app import run_worker

    return run_worker(_config(args))


def cmd_fetch(args: argparse.Namespace) -> int:
    """Poll due feeds once (all feeds with --all)."""
    from bot.app import fetch_once

    return _run_async(lambda: fetch_once(_config(args), include_all=args.all, as_json=args.json))


def cmd_feeds(args: argparse.Namespace) -> int:
    """Feed management: list, add, rm, enable, import, export."""
    from bot import feeds_cli

    return _run_async(lambda: feeds_cli.run(_config(args), args))


def cmd_stories(args: argparse.Namespace) -> int:
    """Global story (watchlist) management."""
    from bot import stories_cli

    return _run_async(lambda: stories_cli.run_stories(_config(args), args))


def cmd_story(args: argparse.Namespace) -> int:
    """Show a story's developments, newest first."""
    from bot import stories_cli

    since = parse_since(args.since) if args.since else None
    return _run_async(lambda: stories_cli.run_story(_config(args), args.name, since, args.json))


def cmd_search(args: argparse.Namespace) -> int:
    """Full-text search over stored items."""
    from bot import search_cli

    if args.rebuild:
        log.warning("`newsbot search --rebuild` is deprecated: use `newsbot db reindex`")
        return cmd_db_reindex(args)
    since = parse_since(args.since) if args.since else None
    return _run_async(lambda: search_cli.run(_config(args), args, since))


def cmd_digest(args: argparse.Namespace) -> int:
    """Print the digest a chat (or the terminal) would get now."""
    from bot.app import print_digest

    since = parse_since(args.since) if args.since else None
    return _run_async(lambda: print_digest(_config(args), chat_id=args.chat, since=since, as_json=args.json))


def cmd_status(args: argparse.Namespace) -> int:
    """Health at a glance: feeds, items, developments, outbox."""
    from bot.status import print_status  # not bot.app: no poller, tracker or PTB

    return _run_async(lambda: print_status(_config(args), as_json=args.json))


def cmd_eval_clustering(args: argparse.Namespace) -> int:
    """Stream a labelled corpus through the tracker and score the clustering."""
    from stories.evaluation import DatasetError, run_eval

    try:
        result = run_eval(
            args.dataset, order=args.order, method=args.method, seed=args.seed, encoder=args.encoder
        )
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _print_json(result)
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            shown = f"{value:.4f}" if isinstance(value, float) else value
            print(f"{key:<{width}}  {shown}")
    return EXIT_OK


def cmd_eval_pairs(args: argparse.Namespace) -> int:
    """Score same-thread decisions on labelled pairs of real articles."""
    from stories.evaluation import DatasetError
    from stories.pairs import run_pair_eval

    try:
        result = run_pair_eval(args.dataset, encoder=args.encoder)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _print_json(result)
        return EXIT_OK
    print(f"{result['dataset']}: {result['pairs']} pairs, {result['one_thread']} labelled one thread")
    print(f"encoder: {result['encoder']}")
    for way in ("topic", "story"):
        r = result[way]
        shown = "  ".join(
            f"{k} {'-' if r[k] is None else format(r[k], '.3f')}"
            for k in ("precision", "recall", "f1", "accuracy")
        )
        print(f"{way:<6} {shown}")
    if result["cosine_auc"] is not None:
        print(f"cosine AUC (one thread vs not): {result['cosine_auc']:.3f}")
    for way, wrong in result["mistakes"].items():
        for m in wrong:
            verdict = "split" if m["labelled_one_thread"] else "joined"
            print(f"  {way} {verdict}: {m['first'][:60]} || {m['second'][:60]}")
    return EXIT_OK


def cmd_eval_developments(args: argparse.Namespace) -> int:
    """Poll the labelled development corpus through the real fetch path and score the tracker."""
    from stories.devcorpus import CorpusError

    from .eval_developments import run_development_eval

    if not args.verbose:
        # One line per fetch and per tracked batch, hundreds of them: the scores are the output.
        logging.getLogger("newsbot").setLevel(logging.WARNING)
    try:
        result = run_development_eval(
            pathlib.Path(args.corpus) if args.corpus else None,
            encoder=args.encoder,
            stories=args.story or None,
            keep_database=pathlib.Path(args.keep_db) if args.keep_db else None,
        )
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _print_json(result)
        return EXIT_OK
    run = result["run"]
    print(
        f"{run['polls']} polls of {run['outlets']} outlets, {run['items_tracked']} items tracked "
        f"in {run['seconds']} s (encoder: {run['encoder']})"
    )
    metrics = (
        ("story_precision", "story P"),
        ("story_recall", "story R"),
        ("bcubed_f1", "B3 F1"),
        ("rereports_folded", "folded"),
        ("cross_language_folded", "x-lang"),
        ("first_reports_new", "new"),
        ("updates_marked_update", "update"),
    )
    print(f"{'story':<12}" + "".join(f"{label:>9}" for _, label in metrics))
    for name, s in result["stories"].items():
        cells = "".join(f"{'-' if s[k] is None else format(s[k], '.3f'):>9}" for k, _ in metrics)
        print(f"{name:<12}{cells}")
    return EXIT_OK


# ------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with --help on every command."""

    def options(default: object) -> argparse.ArgumentParser:
        # Subcommands must not overwrite an option given before them (newsbot --config X fetch),
        # so below the top level their defaults are SUPPRESS.
        parent = argparse.ArgumentParser(add_help=False)
        parent.add_argument(
            "--config",
            metavar="PATH",
            default=default,
            help="config file (default: $NEWSBOT_CONFIG, ./config.toml, then config.example.toml)",
        )
        parent.add_argument(
            "-v", "--verbose", action="store_true", default=default or False, help="log debug details"
        )
        return parent

    top = options(None)
    common = options(argparse.SUPPRESS)
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print one JSON object")

    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="Telegram news-monitoring bot: tracks stories across feeds and posts only what is new.",
        parents=[top],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str, *parents: argparse.ArgumentParser
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common, *parents])
        p.set_defaults(func=func)
        return p

    run = add("run", cmd_run, "run the bot: migrations, fetching, tracking, digests, Telegram")
    run.add_argument("--no-fetch", action="store_true", help="only the bot and digests (workers fetch)")
    add("worker", cmd_worker, "fetch and track only, sharing PostgreSQL with other workers")

    db = sub.add_parser(
        "db", help="database maintenance", description="database maintenance", parents=[common]
    )
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser(
        "upgrade", help="apply migrations", description="apply migrations", parents=[common]
    )
    up.set_defaults(func=cmd_db_upgrade)
    reindex = db_sub.add_parser(
        "reindex", help="rebuild the search index", description="rebuild the search index", parents=[common]
    )
    reindex.set_defaults(func=cmd_db_reindex)
    prune = db_sub.add_parser(
        "prune",
        help="delete items older than storage.keep_days",
        description="delete items older than storage.keep_days (never those of a development still shown)",
        parents=[common],
    )
    prune.set_defaults(func=cmd_db_prune)

    cfg = sub.add_parser("config", help="configuration", description="configuration", parents=[common])
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = cfg_sub.add_parser(
        "check",
        help="validate the config file",
        description="validate the config file",
        parents=[common, json_flag],
    )
    check.set_defaults(func=cmd_config_check)

    fetch = add("fetch", cmd_fetch, "poll feeds once", json_flag)
    fetch.add_argument("--once", action="store_true", help="one cycle over the due feeds (the default)")
    fetch.add_argument("--all", action="store_true", help="fetch every enabled feed, ignoring the schedule")

    feeds = sub.add_parser("feeds", help="manage feeds", description="manage feeds", parents=[common])
    feeds_sub = feeds.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    for name, help_, arg in (
        ("list", "list feeds with their health", None),
        ("add", "add a feed and fetch it once", "URL"),
        ("rm", "remove a feed", "URL"),
        ("enable", "re-enable a disabled feed", "URL"),
        ("import", "import feeds from an OPML file", "FILE"),
        ("export", "print the feeds as OPML", None),
    ):
        p = feeds_sub.add_parser(name, help=help_, description=help_, parents=[common, json_flag])
        if arg:
            p.add_argument(arg.lower(), metavar=arg)
        p.set_defaults(func=cmd_feeds)

    stories = sub.add_parser(
        "stories",
        help="manage global stories (watchlists)",
        description="manage global stories",
        parents=[common],
    )
    st_sub = stories.add_subparsers(dest="stories_command", metavar="ACTION", required=True)
    for name, help_, params in (
        ("list", "list stories and their queries", ()),
        ("add", "add a story", ("NAME", "QUERY")),
        ("edit", "change a story's query", ("NAME", "QUERY")),
        ("rm", "remove a story", ("NAME",)),
        ("show", "a story's query and change history", ("NAME",)),
    ):
        p = st_sub.add_parser(name, help=help_, description=help_, parents=[common, json_flag])
        for param in params:
            p.add_argument(param.lower(), metavar=param)
        p.set_defaults(func=cmd_stories)

    story = add("story", cmd_story, "a story's developments, newest first", json_flag)
    story.add_argument("name", metavar="NAME")
    story.add_argument(
        "--since", help="only developments seen since, e.g. 7d, 12h, 2026-11-01 (default 7d)", default="7d"
    )

    search = add("search", cmd_search, "full-text search over stored items", json_flag)
    search.add_argument("query", metavar="QUERY", nargs="?", default="")
    search.add_argument("--since", help="e.g. 7d, 12h, 2026-11-01")
    search.add_argument("--story", help="only items of this story")
    search.add_argument(
        "--outlet", help="only items from outlets whose name contains this (as /search outlet:)"
    )
    search.add_argument("--limit", type=int, default=10, help="how many results (default 10)")
    search.add_argument("--rebuild", action="store_true", help="deprecated: use `newsbot db reindex`")

    digest = add("digest", cmd_digest, "print the digest now", json_flag)
    digest.add_argument("--chat", type=int, help="the digest this chat would get (default: every story)")
    digest.add_argument("--since", help="new since, e.g. 1d (default: since the chat's last digest, or 1d)")

    add("status", cmd_status, "feeds, items, developments and outbox at a glance", json_flag)

    ev = sub.add_parser(
        "eval", help="evaluate the story tracker", description="evaluate the story tracker", parents=[common]
    )
    ev_sub = ev.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    clustering = ev_sub.add_parser(
        "clustering",
        help="score clustering on a labelled corpus",
        description=(
            "stream a labelled corpus (googlenews-t, googlenews-ts, googlenews-s, uci, or a path) "
            "through the tracker and print NMI, ARI, pair and B-cubed F1, first-story detection and speed"
        ),
        parents=[common, json_flag],
    )
    clustering.add_argument("--dataset", required=True, metavar="NAME_OR_PATH")
    clustering.add_argument("--order", choices=("file", "shuffle", "time"), default="file")
    clustering.add_argument("--method", choices=("tracker", "baseline"), default="tracker")
    clustering.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    clustering.add_argument(
        "--encoder",
        choices=("use", "none"),
        default="none",
        help="sentence encoder for the tracker (default none: the lexical tracker, as before)",
    )
    clustering.set_defaults(func=cmd_eval_clustering)
    pairs = ev_sub.add_parser(
        "pairs",
        help="score same-thread decisions on labelled pairs of real articles",
        description=(
            "stream labelled article pairs (tgcontest-en: 35 pairs of the Telegram clustering contest, "
            "or a path to such a Toloka TSV) through a fresh tracker, as items of no watched story "
            "(topic) and as items of one watched story (story), and print precision and recall of "
            "'same development' against the labels, and the encoder's cosine AUC"
        ),
        parents=[common, json_flag],
    )
    pairs.add_argument("--dataset", default="tgcontest-en", metavar="NAME_OR_PATH")
    pairs.add_argument("--encoder", choices=("use", "none"), default="use", help="sentence encoder")
    pairs.set_defaults(func=cmd_eval_pairs)
    developments = ev_sub.add_parser(
        "developments",
        help="score developments and kinds on our labelled polls",
        description=(
            "serve the development corpus (tests/data/developments, or --corpus DIR) from a local HTTP "
            "server, poll it through the real fetch path into a fresh database as `newsbot run` would, "
            "and score per story: story precision/recall, development B-cubed F1, re-reports folded, "
            "first reports marked new, updates marked update, and the confusion matrix of kinds"
        ),
        parents=[common, json_flag],
    )
    developments.add_argument("--corpus", metavar="DIR", help="corpus folder (default: the bundled one)")
    developments.add_argument("--encoder", choices=("use", "none"), default="use", help="sentence encoder")
    developments.add_argument("--story", action="append", metavar="NAME", help="only this story (repeatable)")
    developments.add_argument("--keep-db", metavar="PATH", help="keep the SQLite database of the run here")
    developments.set_defaults(func=cmd_eval_developments)
    return parser


def setup_logging(verbose: bool) -> None:
    """Log to stderr; keep httpx at WARNING so request URLs (which carry the token) never appear."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``newsbot`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    try:
        return int(args.func(args))
    except NewsbotError as exc:  # ours, with what to do: the message and its exit status
        print(f"newsbot: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # the last line of defence: say what failed, exit 1
        log.exception("failed: %s", exc)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
