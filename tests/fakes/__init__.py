"""Behaving fakes for what cannot run here: Telegram's Bot API, feed servers."""
