"""CORS in a real browser: a page on another origin logs in, asks who it is and reads a 401.

The page is served by a tiny ``http.server`` on another loopback port (another origin), and
its script calls the live API with ``fetch``: ``POST /login`` (a JSON body, so a preflight),
``GET /me`` with the token (a preflight for ``Authorization``), then ``GET /me`` with a bad
token, whose ``WWW-Authenticate`` the page can read only if it is exposed. With the page's
origin in ``CORS_ORIGINS`` all of it works; without, the browser refuses the first call.

Headless Chromium from Debian, as ``support.browser`` starts it.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import browser as browser_support
from support.accounts import PASSWORD

PAGE = b"<!doctype html><meta charset=utf-8><title>A front end</title><p>Front end</p>"

# Runs in the page, on the front end's origin; answers what it saw, or the error it met.
CALL_THE_API = """
async ([api, username, password]) => {
  try {
    const login = await fetch(`${api}/login`, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username, password}),
    });
    const tokens = await login.json();
    const me = await fetch(`${api}/me`, {
      headers: {"Authorization": `Bearer ${tokens.access_token}`},
    });
    const refused = await fetch(`${api}/me`, {headers: {"Authorization": "Bearer at.bad"}});
    return {
      login: login.status,
      me: me.status,
      username: (await me.json()).username,
      refused: refused.status,
      challenge: refused.headers.get("WWW-Authenticate"),
    };
  } catch (error) {
    return {error: `${error.name}: ${error.message}`};
  }
}
"""

pytestmark = browser_support.MARKS


class FrontEndPage(BaseHTTPRequestHandler):
    """Serves the one page of the front end, and logs nothing."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture
def front_end():
    """The front end's origin: a page on another loopback port than the API's."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FrontEndPage)
    thread = threading.Thread(target=server.serve_forever, name="front-end", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def cors_on() -> bool:
    """Whether the API names the front end's origin; a test may say otherwise."""
    return True


@pytest.fixture
def config(config, front_end, cors_on):
    return {**config, "CORS_ORIGINS": [front_end] if cors_on else []}


@pytest.fixture
def front_end_page(browser, front_end):
    """The front end's page, open in the browser."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(browser_support.TIMEOUT_MS)
    page.goto(front_end)
    yield page
    context.close()


def test_a_page_on_a_named_origin_logs_in_and_reads_a_401s_challenge(
    front_end_page, live_server, make_user
):
    make_user("alice")
    seen = front_end_page.evaluate(CALL_THE_API, [live_server, "alice", PASSWORD])
    challenge = seen.pop("challenge", None)
    assert seen == {"login": 200, "me": 200, "username": "alice", "refused": 401}
    assert challenge is not None, "WWW-Authenticate is not readable by the page"
    assert challenge.startswith('Bearer realm="api", error="invalid_token"')


@pytest.mark.parametrize("cors_on", [False])
def test_a_page_on_an_origin_not_named_cannot_call_the_api(front_end_page, live_server, make_user):
    make_user("alice")
    seen = front_end_page.evaluate(CALL_THE_API, [live_server, "alice", PASSWORD])
    assert seen == {"error": "TypeError: Failed to fetch"}
