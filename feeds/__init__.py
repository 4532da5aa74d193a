"""Feed polling: fetch (HTTP, SSRF guard) -> parse (fast path / feedparser / JSON Feed)
-> normalise into :class:`stories.model.Item` -> schedule the next fetch.

Knows HTTP and XML; never imports ``storage`` or ``bot``. The pieces:

* :mod:`feeds.fetch` - :class:`~feeds.fetch.Fetcher` (one shared ``httpx.AsyncClient``,
  global and per-host limits) turns a :class:`~stories.model.FeedState` into a
  :class:`~feeds.fetch.FetchOutcome` value; :func:`~feeds.fetch.resolve_file_url`.
* :mod:`feeds.ssrf` - address policy, pluggable resolver, guarded network backend.
* :mod:`feeds.parse` - :func:`~feeds.parse.parse_feed` / ``parse_feed_async`` ->
  :class:`~feeds.parse.ParsedFeed`, or :class:`~feeds.parse.FeedParseError`.
* :mod:`feeds.normalize` - canonical URLs, plain text, stable ids, dates.
* :mod:`feeds.schedule` - pure ``next_state`` / ``is_due`` / ``enable``.
* :mod:`feeds.poll` - ``poll_feed`` / ``poll_feeds``: all of the above for the poller.
* :mod:`feeds.opml` - OPML import and export.
"""
