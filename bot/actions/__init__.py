"""The use cases, once: plain async functions over storage that the Telegram commands
(``bot/commands/``) and the command line (``bot/*_cli.py``) both call.

A front-end parses its arguments, calls an action and renders what it returns (or the
``NewsbotError`` it raises); it never repeats a rule an action holds.

- ``stories``: watchlist queries and names, and a story's developments as people see them
  (the one read model ``/story``, ``newsbot story``, digests and alerts share).
- ``subscriptions``: subscribe / unsubscribe, schedules and time zones.
- ``feeds``: feed URLs, adding a feed (fetched and tracked at once), feed health.
- ``digests``: what each chat is sent and when: due digests, ``/digest``, breaking alerts.
- ``search``: full-text search with its filters.
"""
