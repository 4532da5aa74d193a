"""Tests of the bot package: rendering, the fake Bot API, handlers."""
