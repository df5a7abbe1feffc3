"""Password rules (NIST SP 800-63B): length in code points, no truncation, no composition rules,
common and username-equal passwords refused; the same on every path that sets a password. And
hashes: Argon2id with the configured parameters, upgraded on the next login.
"""

from __future__ import annotations

import unicodedata

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from support.accounts import PASSWORD

from api import create_app
from api.database import create_schema, db
from api.errors import Invalid
from api.models import User
from api.origin import CLI
from api.services import accounts

USERNAME = "alice1234"


@pytest.fixture
def config(config):
    # These tests fail many logins on purpose; the rate limit has tests of its own.
    return {**config, "LOGIN_RATE_LIMIT": "1000 per minute"}


def _logs_in(client, username: str, password: str) -> bool:
    response = client.post("/login", json={"username": username, "password": password})
    assert response.status_code in (200, 401), response.get_json()
    return response.status_code == 200


class ApiCreate:
    """An admin creates the user with ``POST /users``."""

    def __init__(self, client, admin, make_user, login, cli) -> None:
        self.client, self.admin = client, admin

    def set(self, username: str, password: str) -> tuple[bool, str]:
        body = {"username": username, "password": password}
        response = self.client.post("/users", json=body, headers=self.admin.headers)
        assert response.status_code in (201, 422), response.get_json()
        return response.status_code == 201, response.get_json().get("detail", "")


class ApiChange:
    """The user changes their own password with ``POST /password``."""

    def __init__(self, client, admin, make_user, login, cli) -> None:
        make_user(USERNAME)
        self.client, self.current = client, PASSWORD
        self.headers = login(USERNAME).headers

    def set(self, username: str, password: str) -> tuple[bool, str]:
        body = {"current_password": self.current, "new_password": password}
        response = self.client.post("/password", json=body, headers=self.headers)
        assert response.status_code in (204, 422), response.get_json()
        if response.status_code == 204:
            self.current = password
            return True, ""
        return False, response.get_json()["detail"]


class CliCreate:
    """``manage.py users create NAME --password-stdin``."""

    def __init__(self, client, admin, make_user, login, cli) -> None:
        self.cli = cli

    def set(self, username: str, password: str) -> tuple[bool, str]:
        result = self.cli("users", "create", username, "--password-stdin", input=password + "\n")
        assert result.exit_code in (0, 1) and "Traceback" not in result.output
        return result.exit_code == 0, result.stderr.strip()


class CliSetPassword:
    """``manage.py users set-password NAME --password-stdin``."""

    def __init__(self, client, admin, make_user, login, cli) -> None:
        make_user(USERNAME)
        self.cli = cli

    def set(self, username: str, password: str) -> tuple[bool, str]:
        args = ("users", "set-password", USERNAME, "--password-stdin")
        result = self.cli(*args, input=password + "\n")
        assert result.exit_code in (0, 1) and "Traceback" not in result.output
        return result.exit_code == 0, result.stderr.strip()


@pytest.fixture(params=[ApiCreate, ApiChange, CliCreate, CliSetPassword], ids=lambda c: c.__name__)
def setter(request, client, admin, make_user, login, cli):
    """One way of setting a password; every test below runs through all four."""
    return request.param(client, admin, make_user, login, cli)


def _user_for(setter, case: int) -> str:
    return USERNAME if isinstance(setter, ApiChange | CliSetPassword) else f"user{case}"


ACCEPTED = {
    "8 characters": "a7Gk2pQz",
    "spaces": "  four words, spaced out  ",
    "cyrillic": "пароль пароль пароль",
    "8 accented characters, 16 bytes": "\u00e9" * 8,
    "8 emoji, 8 code points": "\U0001f511" * 8,
    "1024 characters": "x7" * 512,
    "1024 two-byte characters": "\u00e9z" * 512,
}
REFUSED = {
    "7 characters": ("a7Gk2pQ", "at least 8 characters"),
    "7 accented characters, 14 bytes": ("\u00e9" * 7, "at least 8 characters"),
    "1025 characters": ("x" * 1025, ""),
    "common": ("password", "too common"),
    "common, other case": ("FootBall", "too common"),
    "common digits": ("12345678", "too common"),
    "the username": ("ALICE1234", "the username"),
}


def test_passwords_within_the_rules_are_accepted_and_log_in_exactly(client, setter):
    for case, (name, password) in enumerate(ACCEPTED.items()):
        username = _user_for(setter, case)
        accepted, detail = setter.set(username, password)
        assert accepted, (name, detail)
        assert _logs_in(client, username, password), name
        # Every character counts: no truncation (bcrypt keeps 72 bytes), no trimming.
        for near_miss in (password[:-1], password[:72], password + " ", password.strip()):
            if near_miss != password and len(near_miss) <= 1024:
                assert not _logs_in(client, username, near_miss), (name, near_miss)


def test_passwords_breaking_a_rule_are_refused_with_the_reason(client, setter):
    for case, (name, (password, reason)) in enumerate(REFUSED.items()):
        username = USERNAME if name == "the username" else _user_for(setter, case)
        accepted, detail = setter.set(username, password)
        assert not accepted, name
        assert reason in detail, (name, detail)


@pytest.mark.parametrize("minimum", [15])
def test_the_minimum_length_is_configurable(config, tmp_path, minimum):
    app = create_app({**config, "PASSWORD_MIN_LENGTH": minimum}, str(tmp_path / "min"))
    with app.app_context():
        create_schema()
        with pytest.raises(Invalid, match=f"at least {minimum} characters"):
            accounts.create_user("alice", "a7Gk2pQz" + "x" * (minimum - 9), origin=CLI)
        accounts.create_user("alice", "a7Gk2pQz" + "x" * (minimum - 8), origin=CLI)
        db.session.remove()
        db.engine.dispose()


def test_a_composed_or_decomposed_password_logs_in_alike(client, make_user):
    composed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    make_user("alice", composed)
    assert _logs_in(client, "alice", decomposed)
    assert _logs_in(client, "alice", composed)
    assert not _logs_in(client, "alice", composed.upper())


def test_a_megabyte_password_is_refused_before_any_hashing(client, make_user):
    make_user("alice")
    huge = "x" * 1_000_000
    assert client.post("/login", json={"username": "alice", "password": huge}).status_code == 422


def _stored_hash(app, username: str) -> str:
    with app.app_context():
        return db.session.scalar(db.select(User.password_hash).where(User.username == username))


def test_hashes_are_salted_argon2id_with_the_configured_parameters(app, make_user):
    make_user("alice")
    make_user("bob")
    alice, bob = _stored_hash(app, "alice"), _stored_hash(app, "bob")
    assert alice != bob
    parameters = extract_parameters(alice)
    assert parameters.type is Type.ID
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (
        app.config["ARGON2_TIME_COST"],
        app.config["ARGON2_MEMORY_COST"],
        app.config["ARGON2_PARALLELISM"],
    )
    assert PASSWORD not in alice


@pytest.fixture
def stronger(config):
    """Today's parameters are stronger than those of the hash seeded below (still cheap)."""
    config.update({"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_COST": 16})
    return config


def test_a_hash_with_weaker_parameters_is_upgraded_on_the_next_login(
    stronger, app, client, make_user
):
    make_user("alice")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).hash(PASSWORD)
    with app.app_context():
        db.session.execute(db.update(User).values(password_hash=weak))
        db.session.commit()
    assert not _logs_in(client, "alice", "not the password")
    assert _stored_hash(app, "alice") == weak  # a failed login changes nothing
    assert _logs_in(client, "alice", PASSWORD)
    upgraded = _stored_hash(app, "alice")
    assert upgraded != weak
    parameters = extract_parameters(upgraded)
    assert (parameters.time_cost, parameters.memory_cost) == (2, 16)
    assert _logs_in(client, "alice", PASSWORD)
    assert _stored_hash(app, "alice") == upgraded  # upgraded once, not at every login
