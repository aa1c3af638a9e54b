"""One way to name an element for the tests: `data-testid` for the browser tests (Playwright's get_by_test_id) and
the same name as NiceGUI marker for the simulated user (tests/screens: `user.find(marker=...)`)."""

from __future__ import annotations

from typing import TypeVar

from nicegui.element import Element

E = TypeVar("E", bound=Element)


def testid(element: E, name: str) -> E:
    """Give `element` the test id `name` (both kinds); returns the element, so it wraps a builder chain."""
    element.props(f'data-testid="{name}"')
    element.mark(name)
    return element
