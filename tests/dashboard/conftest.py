"""Fixtures shared with the page tests."""

from tests.web.conftest import login  # noqa: F401 (fixture)
