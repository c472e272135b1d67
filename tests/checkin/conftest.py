"""Fixtures shared with the page tests."""

from tests.web.conftest import english, login  # noqa: F401 (fixtures)
