"""A real OpenID Connect provider for the OIDC tests: oidc-provider (tests/oidc/provider.mjs) run with the machine's
Node.js on a free loopback port, its test clients and accounts, and a browser-like walk through its pages.

`oidc_provider` and `oidc_provider_tls` (https:// with a certificate of its own; fixtures for one test module each)
install the provider's npm packages once when tests/oidc/node_modules is missing (`npm ci`, from the committed
package-lock.json), start it, wait until its discovery document answers and stop it at the end.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.notify_receivers import self_signed
from tests.opcua_server import free_port
from tests.waiting import answering, ended

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "factory-hmi"
OTHER_CLIENT_ID = "other-app"
# The accounts provider.mjs knows: login -> (password, subject). Test accounts only.
ACCOUNTS = {
    "lena": ("lena-lead-pw", "a7c1e0f4-lena"),
    "otto": ("otto-op-pw", "b2d9f611-otto"),
    "eve": ("eve-office-pw", "c5e38a20-eve"),
}
ROLE_MAP = {"HMI-Operators": "operator", "HMI-Leads": "lead"}


@dataclass(frozen=True)
class OidcProvider:
    """The running provider: its issuer URL and what a relying party registered there uses."""

    issuer: str
    client_secret: str
    redirect_uri: str
    post_logout_redirect_uri: str
    ca_file: Path | None = None

    def verify(self) -> ssl.SSLContext | bool:
        """How a client checks the provider's certificate: against its own CA file when it serves https://."""
        return True if self.ca_file is None else ssl.create_default_context(cafile=str(self.ca_file))

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The plant file's access.oidc section for the HMI's test client."""
        return {
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
            "scopes": ["openid", "profile"],
            "role_claim": "hmi_roles",
            "role_map": ROLE_MAP,
            **({"ca_file": str(self.ca_file)} if self.ca_file else {}),
            **overrides,
        }


def _node_modules() -> None:
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed; the OIDC tests need Node.js 20+ and npm (apt-get install nodejs npm)")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"npm ci in {PROVIDER_DIR} failed:\n{done.stdout}\n{done.stderr}")


def running_provider(folder: Path, *, tls: bool = False, rp_port: int | None = None) -> Iterator[OidcProvider]:
    """The provider, for a relying party at http://127.0.0.1:`rp_port` (a running HMI; default: a free port nobody
    listens at, the tests then take the callback URL from the redirect itself)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the OIDC tests run oidc-provider with Node.js 20+")
    _node_modules()
    port, rp_port = free_port(), rp_port or free_port()
    env = {**os.environ, "OIDC_TEST_CLIENT_SECRET": secrets.token_urlsafe(24)}
    ca_file: Path | None = None
    if tls:
        ca_file, key_file = self_signed(folder)
        env |= {"OIDC_TEST_TLS_CERT": str(ca_file), "OIDC_TEST_TLS_KEY": str(key_file)}
    provider = OidcProvider(
        issuer=f"{'https' if tls else 'http'}://127.0.0.1:{port}",
        client_secret=env["OIDC_TEST_CLIENT_SECRET"],
        redirect_uri=f"http://127.0.0.1:{rp_port}/auth/oidc/callback",
        post_logout_redirect_uri=f"http://127.0.0.1:{rp_port}/auth/oidc/signed-out",
        ca_file=ca_file,
    )
    log = folder / "provider.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [node, "provider.mjs", str(port), provider.redirect_uri, provider.post_logout_redirect_uri],
            cwd=PROVIDER_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        answering(f"{provider.issuer}/.well-known/openid-configuration", proc, log, 30, provider.verify())
        yield provider
    finally:
        ended(proc, timeout=5)


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The provider on http://127.0.0.1 (plain HTTP is accepted for loopback only)."""
    yield from running_provider(tmp_path_factory.mktemp("oidc-provider"))


@pytest.fixture(scope="module")
def oidc_provider_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The provider on https://127.0.0.1 with a certificate of its own (`ca_file`), trusted by nobody else."""
    yield from running_provider(tmp_path_factory.mktemp("oidc-provider-tls"), tls=True)


# ---------------------------------------------------------------------------------------------- the browser


_SUBMITS_ITSELF = "document.forms[0].submit()"


class _Forms(HTMLParser):
    """The forms of a page: action, method and their inputs' names and values (buttons with a name included)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.loose: list[tuple[str, str, str]] = []  # (form id, name, value) of controls outside their form

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {}}
            self.forms.append(form)
            if a.get("id"):
                self.by_id[a["id"]] = form
        elif tag in ("input", "button") and a.get("name"):
            if a.get("form"):
                self.loose.append((a["form"], a["name"], a.get("value", "")))
            elif self.forms:
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    for form_id, name, value in parser.loose:
        if form_id in parser.by_id:
            parser.by_id[form_id]["fields"][name] = value
    return parser.forms


@dataclass
class Page:
    """Where the walk stopped: a page of the provider (`html`), or a redirect to the relying party (`redirect`)."""

    url: str
    html: str = ""
    redirect: str = ""


class Browser:
    """An httpx client that acts like a browser at the provider: keeps its cookies, follows its redirects, and
    stops at a redirect to the relying party (the HMI, not running here), whose URL is the callback."""

    def __init__(self, provider: OidcProvider) -> None:
        self.provider = provider
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=10, verify=provider.verify())

    async def aclose(self) -> None:
        await self.http.aclose()

    async def go(self, url: str, method: str = "GET", data: dict[str, str] | None = None) -> Page:
        for _ in range(20):
            if not url.startswith(self.provider.issuer):
                return Page(url=url, redirect=url)
            response = await self.http.request(method, url, data=data)
            if response.is_redirect:
                # 303 and 302 after a form post continue as GET, as browsers do.
                url, method, data = urljoin(url, response.headers["location"]), "GET", None
                continue
            if _SUBMITS_ITSELF in response.text:
                # A page whose script submits its form at once (the provider ending one account's session when
                # another signs in): a browser would post it without anyone touching it.
                [form, *_] = forms_of(response.text)
                url, method, data = urljoin(url, form["action"] or url), "POST", form["fields"]
                continue
            return Page(url=url, html=response.text)
        raise AssertionError(f"more than 20 redirects from {url}")

    async def submit(self, page: Page, **fields: str) -> Page:
        """Submit the page's form (the first one, or the one with a field of `fields`' names) with `fields`."""
        forms = forms_of(page.html)
        assert forms, f"no form on {page.url}: {page.html[:500]}"
        form = next((f for f in forms if set(fields) <= set(f["fields"])), forms[0])
        action = urljoin(page.url, form["action"] or page.url)
        return await self.go(action, "POST", {**form["fields"], **fields})

    async def sign_in(self, authorization_url: str, login: str, password: str | None = None) -> Page:
        """Open the authorization URL and, when the provider asks, enter `login` and its password."""
        page = await self.go(authorization_url)
        if page.redirect:
            return page
        assert "password" in page.html, f"expected the provider's login form, got: {page.html[:500]}"
        return await self.submit(page, login=login, password=password or ACCOUNTS[login][0])


def asks_for_password(page: Page) -> bool:
    """True when the walk stopped at the provider's login form."""
    return not page.redirect and re.search(r'name="password"', page.html) is not None


def callback_of(page: Page) -> str:
    """The redirect to the relying party the walk ended at (the callback URL with its query)."""
    assert page.redirect, f"the provider did not send the browser back; it shows: {page.html[:500]}"
    return page.redirect
