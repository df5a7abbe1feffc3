"""REFRESH_REUSE_LEEWAY: a refresh token spent a moment ago, presented again, is a client race
(two tabs, a retry after a lost answer), not a theft: it gets a pair of the session's current
generation. After the leeway, or with it off, the reuse revokes the session as before.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from api import create_app
from api.credentials import signed_tokens
from api.database import db
from api.models import LoginSession

LEEWAY = 10  # the default


def _refresh(client, token):
    return client.post("/refresh", json={"refresh_token": token})


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _generation(app, token: str) -> int:
    with app.app_context():
        return signed_tokens.codec().verify(signed_tokens.REFRESH, token).generation


def _sessions(app) -> list[LoginSession]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(LoginSession)))
        db.session.expunge_all()
        return rows


def test_the_default_leeway_is_ten_seconds(app):
    assert app.config["REFRESH_REUSE_LEEWAY"] == LEEWAY


# --- inside the leeway ------------------------------------------------------------------------


@pytest.mark.parametrize("after", [0, 1, LEEWAY])
def test_a_reuse_inside_the_leeway_gets_a_pair_of_the_current_generation(
    clock, app, client, alice, after
):
    winner = _refresh(client, alice.refresh_token).get_json()
    clock.shift(after)
    racer = _refresh(client, alice.refresh_token)
    assert racer.status_code == 200
    pair = racer.get_json()
    assert racer.headers["Cache-Control"] == "no-store"
    assert _generation(app, pair["refresh_token"]) == _generation(app, winner["refresh_token"]) == 1
    assert [s.refresh_generation for s in _sessions(app)] == [1]  # no new generation, no fork
    assert client.get("/me", headers=_bearer(pair["access_token"])).status_code == 200
    assert client.get("/me", headers=_bearer(winner["access_token"])).status_code == 200
    assert _sessions(app)[0].revoked_at is None


def test_after_a_race_both_tabs_go_on_in_the_one_session(clock, app, client, alice):
    first = _refresh(client, alice.refresh_token).get_json()
    second = _refresh(client, alice.refresh_token).get_json()
    clock.shift(300)
    newer = _refresh(client, first["refresh_token"])  # generation 1 -> 2
    assert newer.status_code == 200
    again = _refresh(client, second["refresh_token"])  # the other tab, a moment later
    assert again.status_code == 200
    assert _generation(app, again.get_json()["refresh_token"]) == 2
    sessions = client.get("/sessions", headers=_bearer(again.get_json()["access_token"]))
    assert sessions.get_json()["total"] == 1


def test_only_the_generation_spent_last_is_forgiven(clock, app, client, alice):
    first = _refresh(client, alice.refresh_token).get_json()
    _refresh(client, first["refresh_token"])  # generation 2 now; alice's token is generation 0
    reused = _refresh(client, alice.refresh_token)
    assert reused.status_code == 401
    assert reused.get_json()["detail"] == "refresh token reused; session revoked"
    assert _sessions(app)[0].revoked_at is not None


def test_concurrent_refreshes_all_get_the_one_current_generation(app, alice):
    def attempt(_):
        return _refresh(app.test_client(), alice.refresh_token)

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(attempt, range(8)))
    assert [reply.status_code for reply in replies] == [200] * 8
    generations = {_generation(app, reply.get_json()["refresh_token"]) for reply in replies}
    assert generations == {1}
    assert [s.refresh_generation for s in _sessions(app)] == [1]


def test_the_leeway_does_not_open_an_ended_session(clock, client, alice):
    _refresh(client, alice.refresh_token)
    assert client.post("/logout", headers=alice.headers).status_code == 204
    response = _refresh(client, alice.refresh_token)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "session revoked"


def test_a_race_is_audited_as_a_refresh_in_the_leeway(clock, client, caplog, alice):
    caplog.set_level(logging.INFO, logger="tessera.audit")
    _refresh(client, alice.refresh_token)
    _refresh(client, alice.refresh_token)
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    refreshes = [(e["event"], e["outcome"], e.get("leeway")) for e in events]
    assert refreshes[-2:] == [("refresh", "success", None), ("refresh", "success", True)]
    assert not any(e["event"] == "refresh_reuse" for e in events)


# --- after the leeway -------------------------------------------------------------------------


def test_a_reuse_after_the_leeway_revokes_the_session(clock, app, client, alice):
    winner = _refresh(client, alice.refresh_token).get_json()
    clock.shift(LEEWAY + 1)
    reused = _refresh(client, alice.refresh_token)
    assert reused.status_code == 401
    assert reused.get_json()["detail"] == "refresh token reused; session revoked"
    assert _refresh(client, winner["refresh_token"]).status_code == 401
    assert client.get("/me", headers=_bearer(winner["access_token"])).status_code == 401


def test_the_leeway_counts_from_the_latest_refresh(clock, app, client, alice):
    first = _refresh(client, alice.refresh_token).get_json()
    clock.shift(LEEWAY + 5)
    _refresh(client, first["refresh_token"])  # the generation moves again, just now
    clock.shift(1)
    assert _refresh(client, alice.refresh_token).status_code == 401  # generation 0: old
    assert _sessions(app)[0].revoked_at is not None


def test_the_leeway_follows_the_configuration(clock, app, client, alice):
    app.config["REFRESH_REUSE_LEEWAY"] = 30
    _refresh(client, alice.refresh_token)
    clock.shift(30)
    assert _refresh(client, alice.refresh_token).status_code == 200
    clock.shift(1)
    assert _refresh(client, alice.refresh_token).status_code == 401


# --- off ---------------------------------------------------------------------------------------


def test_a_leeway_of_zero_treats_every_reuse_as_theft(clock, app, client, alice):
    app.config["REFRESH_REUSE_LEEWAY"] = 0
    _refresh(client, alice.refresh_token)
    reused = _refresh(client, alice.refresh_token)
    assert reused.status_code == 401
    assert reused.get_json()["detail"] == "refresh token reused; session revoked"
    assert _sessions(app)[0].revoked_at is not None


def test_the_leeway_is_read_from_the_environment(config, tmp_path, monkeypatch):
    monkeypatch.setenv("REFRESH_REUSE_LEEWAY", "0")
    app = create_app(config, instance_path=str(tmp_path / "env"))
    assert app.config["REFRESH_REUSE_LEEWAY"] == 0
    monkeypatch.setenv("REFRESH_REUSE_LEEWAY", "-1")
    with pytest.raises(RuntimeError, match="REFRESH_REUSE_LEEWAY"):
        create_app(config, instance_path=str(tmp_path / "env2"))
