"""``/docs/passkeys`` in a real browser: headless Chromium with the DevTools WebAuthn virtual
authenticator registers a passkey through the page and logs in with it, no password.

WebAuthn needs a secure context: ``http://localhost`` is one (an IP address is not, and is no
valid RP id), so the page is opened on ``localhost`` and the app told that origin.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from support import browser as browser_support
from support.accounts import PASSWORD

from api.database import db
from api.models import LoginSession, Passkey

pytestmark = browser_support.MARKS

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install -r requirements-dev.txt to enable"
)


@pytest.fixture
def localhost(app, live_server) -> str:
    """The live server as ``http://localhost:PORT``, the app's one WebAuthn origin."""
    origin = f"http://localhost:{urlsplit(live_server).port}"
    app.config["WEBAUTHN_ORIGINS"] = [origin]
    return origin


@pytest.fixture
def page(localhost):
    """A page with a virtual authenticator (user verification on), that may reach only the
    app: anything else is aborted and recorded."""
    with sync_api.sync_playwright() as playwright:
        browser = browser_support.launch(playwright)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(browser_support.TIMEOUT_MS)
        page.outside_requests = []
        page.console_errors = []

        def only_the_app(route):
            if route.request.url.startswith(localhost + "/"):
                route.continue_()
            else:
                page.outside_requests.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_app)
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        devtools = context.new_cdp_session(page)
        devtools.send("WebAuthn.enable")
        devtools.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        try:
            yield page
        finally:
            browser.close()


def test_the_page_registers_a_passkey_and_logs_in_with_it(app, page, localhost, make_user):
    make_user("alice")
    page.goto(f"{localhost}/docs/passkeys")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    log = page.locator("#log")
    page.click("#password-login")
    sync_api.expect(log).to_contain_text("logged in as alice")
    page.click("#register")
    sync_api.expect(log).to_contain_text("passkey registered")
    page.click("#passkey-login")
    sync_api.expect(log).to_contain_text(re.compile(r"passkey registered[\s\S]*logged in as alice"))
    assert page.inner_text("#who") == "alice"
    assert page.outside_requests == []
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
    with app.app_context():
        assert db.session.scalar(sa.select(Passkey.name)) == "This browser"
        proofs = set(db.session.scalars(sa.select(LoginSession.proof)))
    assert proofs == {"password", "passkey"}
