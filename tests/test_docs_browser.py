"""/docs in a real browser: Swagger UI loads from the app alone, authorizes, runs GET /me, and
walks a person through TOTP enrolment with the QR code drawn.

Headless Chromium from Debian, as ``support.browser`` starts it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from support import browser as browser_support

pytestmark = browser_support.MARKS

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install -r requirements-dev.txt to enable"
)


@pytest.fixture
def page(browser, live_server):
    """A page that may only reach the live server: anything else is aborted and recorded."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(browser_support.TIMEOUT_MS)
    page.outside_requests = []
    page.console_errors = []
    origin = urlsplit(live_server).netloc

    def only_the_app(route):
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            page.outside_requests.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_app)
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    yield page
    context.close()


def _authorize(page, token: str) -> None:
    page.get_by_role("button", name="Authorize").first.click()
    # The bearer scheme's form; the DPoP scheme's stands beside it.
    bearer = page.locator(".modal-ux .auth-container", has=page.locator("#auth-bearer-value"))
    bearer.locator("#auth-bearer-value").fill(token)
    bearer.get_by_role("button", name="Apply credentials").click()
    page.locator(".modal-ux").get_by_role("button", name="Close").first.click()


def _try_it_out(page, operation_id: str):
    """Run an operation with Try it out and Execute; return its live responses table, with
    the answer's body (``pre``) shown."""
    operation = page.locator(f"#operations-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table")
    live.locator(".response-col_description pre").first.wait_for()
    return live


def _status_of(live) -> str:
    return live.locator("tr.response .response-col_status").first.inner_text().strip()


def test_docs_page_authorizes_with_a_token_and_runs_get_me(page, live_server, alice):
    page.goto(f"{live_server}/docs")
    _authorize(page, alice.access_token)

    live = _try_it_out(page, "resources-get_me")
    body = live.locator(".response-col_description pre").first
    assert '"username": "alice"' in body.inner_text()
    assert _status_of(live) == "200"
    assert page.outside_requests == []
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []


def test_docs_page_lists_every_operation_without_a_token(page, live_server):
    page.goto(f"{live_server}/docs")
    page.locator(".opblock").first.wait_for()
    document = page.request.get(f"{live_server}/openapi.json").json()
    expected = sum(
        1 for item in document["paths"].values() for method in item if method != "parameters"
    )
    assert page.locator(".opblock").count() == expected
    assert page.outside_requests == []


def test_docs_page_walks_a_person_through_totp_enrolment(page, live_server, alice):
    page.goto(f"{live_server}/docs")
    _authorize(page, alice.access_token)

    live = _try_it_out(page, "auth-start_totp_enrolment")
    body = live.locator(".response-col_description pre").first
    assert '"otpauth_uri": "otpauth://totp/Tessera:alice?secret=' in body.inner_text()
    assert _status_of(live) == "200"

    # The QR code is drawn as an image, ready for an authenticator app's camera.
    qr = live.locator("img.tessera-qr-code")
    qr.wait_for()
    size = qr.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")
    assert size[0] > 100 and size[0] == size[1]
    assert page.outside_requests == []
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
