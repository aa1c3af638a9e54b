"""The login's `next=` only ever leads to a path of this application (no open redirect)."""

from __future__ import annotations

import pytest

from screens.session import safe_next

HOSTILE = [
    "/%09/evil.example",
    "/\t/evil.example",
    "\t//evil.example",
    " //evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil",
    "/\\\\evil.example",
    "\\\\evil.example",
    "/%5Cevil.example",
    "/%5c%5cevil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",
    "/%0d%0aSet-Cookie:x=1",
    "/%00/evil.example",
    "/\x00//evil.example",
    "/\n/evil.example",
    "https://evil.example",
    "http:/evil.example",
    "HTTPS://evil.example/",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "java%0ascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "./evil",
    "/ /evil.example",
    "/évil",
    "/login",
    "/login?next=//evil.example",
    "/logout",
    "/" + "a" * 3000,
    "",
    None,
]


@pytest.mark.parametrize("target", HOSTILE)
@pytest.mark.req("SEC-005")
def test_hostile_targets_fall_back_to_the_overview(target: str | None) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/alarms",
        "/alarms?tab=history",
        "/line/L1",
        "/alarm/L1.M1.Temp.H",
        "/trends?tags=L1.M1.Temp,L1.M1.Speed",
        "/alarm/ns%3D2%3Bs%3DLine1%2FEStop",
    ],
)
@pytest.mark.req("SEC-005")
def test_local_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target
