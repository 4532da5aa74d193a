"""Fixtures for the application tests: ``store`` is the shared ``storage`` (tests/conftest.py)."""

from __future__ import annotations

import pytest

from storage.repository import Storage


@pytest.fixture
def store(storage: Storage) -> Storage:
    """The Storage on each backend, under the name these tests use."""
    return storage
