"""Second-factor changes under double submits: one code confirms an enrolment once, and a new
set of recovery codes ends every older set, so exactly one set of 10 is live and it is the set
that the last 200 answer showed. Each race is made to happen (both requests have read and
checked before either writes), not hoped for, on every backend the run has."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from support.accounts import totp_code

from api.credentials import one_time_codes
from api.database import db
from api.models import RecoveryCode

pytestmark = pytest.mark.usefixtures("clock")
# Long enough for the other request to reach the same point, were nothing to stop it.
MEETING_TIMEOUT = 2.0


@pytest.fixture
def meet_after(monkeypatch):
    """Make the next two calls of a ``one_time_codes`` function wait for each other once it
    has returned: both requests have then read the state and checked the code, and neither has
    written. Later calls run as usual."""

    def install(name: str) -> None:
        meeting = threading.Barrier(2, timeout=MEETING_TIMEOUT)
        original = getattr(one_time_codes, name)
        calls = iter(range(2))

        def then_meet(*args):
            result = original(*args)
            if next(calls, None) is not None:
                with contextlib.suppress(threading.BrokenBarrierError):
                    meeting.wait()
            return result

        monkeypatch.setattr(one_time_codes, name, then_meet)

    return install


def _at_once(*requests):
    with ThreadPoolExecutor(len(requests)) as pool:
        return [future.result() for future in [pool.submit(request) for request in requests]]


def _live_codes(app, user_id: int) -> set[str]:
    """The hashes of the user's unused recovery codes, as the database holds them."""
    with app.app_context():
        return set(
            db.session.scalars(
                sa.select(RecoveryCode.code_hash).where(
                    RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                )
            )
        )


def _hashes(codes: list[str]) -> set[str]:
    return {one_time_codes.recovery_code_hash(code) for code in codes}


def _shown(responses) -> list[list[str]]:
    return [r.get_json()["recovery_codes"] for r in responses if r.status_code == 200]


def _logs_in_with(client, mfa_token, recovery_code: str) -> int:
    body = {"mfa_token": mfa_token("alice"), "recovery_code": recovery_code}
    return client.post("/login/mfa", json=body).status_code


def test_one_code_confirms_an_enrolment_once(app, client, alice, meet_after, mfa_token):
    secret = client.post("/mfa/totp", headers=alice.headers).get_json()["secret"]
    code = totp_code(secret)
    meet_after("accepted_step")

    def confirm():
        return app.test_client().post(
            "/mfa/totp/confirm", json={"code": code}, headers=alice.headers
        )

    responses = _at_once(confirm, confirm)
    assert sorted(r.status_code for r in responses) == [200, 409]
    [refused] = [r for r in responses if r.status_code == 409]
    assert refused.get_json()["detail"] == "TOTP is already on"
    [shown] = _shown(responses)
    assert _live_codes(app, alice.user_id) == _hashes(shown)
    assert _logs_in_with(client, mfa_token, shown[0]) == 200


def test_a_double_submit_of_new_recovery_codes_leaves_one_set_live(
    app, client, alice, enrol, meet_after, mfa_token
):
    first = enrol(alice).recovery_codes
    meet_after("new_recovery_codes")

    def regenerate():
        return app.test_client().post("/mfa/recovery-codes", headers=alice.headers)

    responses = _at_once(regenerate, regenerate)
    assert sorted(r.status_code for r in responses) == [200, 409]
    [shown] = _shown(responses)
    live = _live_codes(app, alice.user_id)
    assert len(live) == 10 and live == _hashes(shown)  # never 20, never a dead set shown
    assert _logs_in_with(client, mfa_token, first[0]) == 401
    assert _logs_in_with(client, mfa_token, shown[0]) == 200


def test_new_sets_one_after_another_each_end_the_one_before(app, client, alice, enrol):
    enrol(alice)
    responses = [client.post("/mfa/recovery-codes", headers=alice.headers) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    assert _live_codes(app, alice.user_id) == _hashes(_shown(responses)[-1])
