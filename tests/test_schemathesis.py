"""Fuzz every operation of the live OpenAPI document with schemathesis.

The app runs behind a real server; schemathesis's own command (``st run``) loads
``/openapi.json`` from it and sends generated requests, valid and invalid, with a valid admin
token, through every phase (coverage, fuzzing, stateful) and with every check on: no 5xx,
every status documented, every body and header as documented, invalid input refused, valid
input accepted, 401 without credentials, 405 for an undocumented method.
"""

from __future__ import annotations

import pytest
import schemathesis
from click.testing import CliRunner
from conftest import PASSWORD
from schemathesis.auths import unregister as unregister_auth
from schemathesis.cli import schemathesis as st

from api.services import accounts, sessions

# Each backend's run stops after this many seconds, whatever is left to try.
MAX_TIME = 25
MAX_EXAMPLES = 30
FUZZ_ADMIN = "fuzz-admin"

pytestmark = pytest.mark.slow


@pytest.fixture
def admin_token_on_every_request(app):
    """Send a valid admin token with every generated request, mended whenever fuzzing broke it.

    Fuzzing logs out, revokes sessions, sets passwords, demotes, deactivates and deletes
    users, so one fixed token would soon be dead and the rest of the run would test only the
    401. The same admin is kept for as long as it can be, so that a note it created is still
    its own on the next request (the stateful phase follows such links). It logs in through
    the login use case itself: ``POST /login`` would run into its rate limit, which the
    fuzzing of ``/login`` keeps busy on purpose.
    """
    client = app.test_client()
    current: dict[str, str] = {}

    def still_works(token: str) -> bool:
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        return response.status_code == 200 and response.get_json()["is_admin"]

    def mend() -> str:
        with app.app_context():
            user = accounts.find_user(FUZZ_ADMIN)
            if user is None:
                user = accounts.create_user(FUZZ_ADMIN, PASSWORD, is_admin=True)
            accounts.update_user(user, {"is_active": True, "is_admin": True, "password": PASSWORD})
            return sessions.authenticate(FUZZ_ADMIN, PASSWORD, "schemathesis").access_token

    @schemathesis.auth(refresh_interval=None)
    class AdminToken:
        def get(self, case, context) -> str:
            if "token" not in current or not still_works(current["token"]):
                current["token"] = mend()
            return current["token"]

        def set(self, case, data, context) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    yield
    unregister_auth()


def test_every_operation_survives_fuzzing_and_matches_its_document(
    live_server, admin_token_on_every_request, tmp_path, monkeypatch
):
    # schemathesis keeps a cache of failures in the working directory: keep it out of the repo.
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        st,
        [
            "run",
            f"{live_server}/openapi.json",
            "--checks=all",
            f"--max-time={MAX_TIME}",
            f"--max-examples={MAX_EXAMPLES}",
            "--workers=1",
            "--generation-database=none",
            "--no-color",
        ],
        catch_exceptions=False,
    )
    print(result.output)
    assert result.exit_code == 0, result.output
