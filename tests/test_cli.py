"""manage.py: each command's success, and each failure as one stderr line, exit 1, no change."""

import json
import os
import subprocess
import sys

import pytest
from support import ROOT
from support.accounts import PASSWORD
from support.hashing import CHEAP_HASHING_ENV

from api import commands, models
from api.commands.common import echo_table, fail_cleanly, printable
from api.database import db
from api.models import AuditEvent, LoginSession, User


def _users(app) -> dict[str, User]:
    with app.app_context():
        return {u.username: u for u in db.session.scalars(db.select(User))}


@pytest.fixture
def terminal(monkeypatch):
    """Standard input as a terminal: the runner's input answers the prompts."""
    monkeypatch.setattr(commands.common, "stdin_is_a_terminal", lambda: True)


def _failed(result, message: str) -> None:
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {message}"
    assert "Traceback" not in result.output


def test_create_user_asks_for_the_password_twice(app, cli, client, terminal):
    result = cli("users", "create", "alice", "--admin", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert _users(app)["alice"].is_admin
    assert (
        client.post("/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    )


def test_create_user_with_mismatched_prompts_asks_again(app, cli, terminal):
    result = cli("users", "create", "alice", input=f"{PASSWORD}\nother\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0
    assert "do not match" in result.output.lower()
    assert "alice" in _users(app)


def test_a_refused_password_is_explained_before_it_is_asked_again(app, cli, terminal):
    typed = f"password123\n{PASSWORD}\n{PASSWORD}\n"
    result = cli("users", "create", "alice", input=typed)
    assert result.exit_code == 0, result.output
    # The common one is refused at once: asked for twice, never confirmed.
    assert result.stderr.splitlines() == ["password refused: Is too common; choose another."]
    assert result.stdout.count("Password:") == 2
    assert result.stdout.count("Repeat for confirmation:") == 1
    assert "password123" not in result.output and PASSWORD not in result.output
    assert "alice" in _users(app)


def test_set_password_checks_the_first_entry_against_the_username(client, cli, alice, terminal):
    new = "a brand new passphrase"
    result = cli("users", "set-password", "alice", input=f"Alice\n{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["password refused: Must be at least 8 characters long."]
    assert result.stdout.count("Repeat for confirmation:") == 1
    assert client.post("/login", json={"username": "alice", "password": new}).status_code == 200


def test_create_user_reads_the_password_from_stdin(app, cli):
    result = cli("users", "create", "bob", "--password-stdin", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert not _users(app)["bob"].is_admin


def test_create_user_with_a_taken_name_fails_whatever_the_case(app, cli, make_user):
    make_user("alice")
    result = cli("users", "create", "ALICE", "--password-stdin", input=f"{PASSWORD}\n")
    _failed(result, "username 'ALICE' is taken")
    assert list(_users(app)) == ["alice"]


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("al", PASSWORD, "username must be 3 to 64 letters, digits, '.', '_' or '-'"),
        ("al ice", PASSWORD, "username must be 3 to 64 letters, digits, '.', '_' or '-'"),
        ("alice", "short", "password refused: Must be at least 8 characters long."),
        ("alice", "password123", "password refused: Is too common; choose another."),
        ("alice1234", "alice1234", "password refused: Must not be the username."),
    ],
)
def test_create_user_refuses_bad_names_and_weak_passwords(app, cli, username, password, message):
    result = cli("users", "create", username, "--password-stdin", input=f"{password}\n")
    _failed(result, message)
    assert _users(app) == {}


def test_the_api_and_the_cli_refuse_a_bad_username_by_the_same_rule(app, client, cli, admin):
    refused = client.post(
        "/users", json={"username": "al", "password": PASSWORD}, headers=admin.headers
    )
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["username"] == [
        "Must be 3 to 64 letters, digits, '.', '_' or '-'."
    ]
    result = cli("users", "create", "al", "--password-stdin", input=f"{PASSWORD}\n")
    _failed(result, "username must be 3 to 64 letters, digits, '.', '_' or '-'")
    assert list(_users(app)) == ["root"]


def test_create_user_has_no_password_option(cli):
    result = cli("users", "create", "--help")
    assert "--password " not in result.output
    assert "--password-stdin" in result.output


def test_list_users_as_table_and_json(cli, make_user):
    make_user("alice", is_admin=True)
    make_user("bob")
    table = cli("users", "list")
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split() == [
        "id",
        "username",
        "is_admin",
        "email",
        "is_active",
        "mfa_enabled",
        "created_at",
        "last_login_at",
    ]
    assert [line.split()[1] for line in lines[1:]] == ["alice", "bob"]
    records = [json.loads(line) for line in cli("users", "list", "--json").output.splitlines()]
    assert [r["username"] for r in records] == ["alice", "bob"]
    assert set(records[0]) == {
        "id",
        "username",
        "is_admin",
        "email",
        "is_active",
        "mfa_enabled",
        "created_at",
        "last_login_at",
    }
    assert records[0]["is_admin"] is True and records[1]["last_login_at"] is None
    assert records[0]["mfa_enabled"] is False


def test_every_table_prints_its_header_even_with_no_rows(cli):
    users = cli("users", "list").stdout.splitlines()
    assert [line.split() for line in users] == [
        [
            "id",
            "username",
            "is_admin",
            "email",
            "is_active",
            "mfa_enabled",
            "created_at",
            "last_login_at",
        ]
    ]
    tokens = cli("tokens", "list").stdout.splitlines()
    assert [line.split() for line in tokens] == [
        ["id", "user", "name", "scopes", "expires_at", "last_used_at", "dpop_bound", "key_id"]
    ]


def test_a_table_streams_a_page_at_a_time_and_its_columns_only_widen(monkeypatch):
    monkeypatch.setattr(commands.common, "TABLE_PAGE", 2)
    lines: list[str] = []
    monkeypatch.setattr(commands.common.click, "echo", lines.append)
    printed_before = []  # how many lines were out when each row was made
    rows = (printed_before.append(len(lines)) or [str(n), "x" * n, "text"] for n in range(1, 6))
    echo_table(["n", "xs", "note"], rows)
    assert printed_before == [0, 0, 3, 3, 5]
    assert lines == [
        "n  xs  note",
        "1  x   text",
        "2  xx  text",
        "3  xxx   text",  # the second page is wider: aligned within, wider from there on
        "4  xxxx  text",
        "5  xxxxx  text",
    ]


def test_users_list_json_is_what_get_users_answers(client, cli, admin, make_user):
    make_user("bob")
    answered = client.get("/users", headers=admin.headers).get_json()["items"]
    printed = [json.loads(line) for line in cli("users", "list", "--json").output.splitlines()]
    assert printed == answered
    assert [r["username"] for r in printed] == ["root", "bob"]


def test_tokens_list_json_is_the_api_record_with_its_owner_and_key(client, cli, alice, make_token):
    made = make_token(alice, ["notes:read"], name="backup")
    answered = client.get(f"/tokens/{made.id}", headers=alice.headers).get_json()
    listed = cli("tokens", "list", "--json").output.splitlines()
    assert len(listed) == 1
    printed = json.loads(listed[0])
    assert list(printed) == [
        "id",
        "user",
        "name",
        "scopes",
        "expires_at",
        "last_used_at",
        "dpop_bound",
        "key_id",
    ]
    assert printed["user"] == "alice" and printed["key_id"] == made.token.split(".")[1]
    assert {k: v for k, v in answered.items() if k != "created_at"} == {
        k: v for k, v in printed.items() if k not in {"user", "key_id"}
    }


def test_a_newline_in_a_token_name_cannot_forge_a_table_row(cli, alice, make_token):
    forged = "x\n999  root  admin-token  users:write"
    made = make_token(alice, ["notes:read"], name=forged)
    table = cli("tokens", "list")
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert len(lines) == 2  # the header and alice's one token
    assert lines[1].split()[:3] == [str(made.id), "alice", "x\\n999"]
    # --json is JSON: the name is there as given, newline and all.
    assert json.loads(cli("tokens", "list", "--json").output)["name"] == forged


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("backup", "backup"),
        ("a b", "a b"),
        ("héllo", "héllo"),
        ("x\ny", "x\\ny"),
        ("x\r\ty", "x\\r\\ty"),
        ("\x1b[2Jgone", "\\x1b[2Jgone"),
        ("left\u202eright", "left\\u202eright"),
        ("line\u2028break", "line\\u2028break"),
        ("a\\nb", "a\\\\nb"),  # a backslash and an n: kept apart from a newline
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(text, shown):
    assert printable(text) == shown
    assert printable(text).isprintable()


def test_fail_cleanly_keeps_the_command_s_name_and_help():
    def set_colour(name: str) -> None:
        """Set a colour."""

    wrapped = fail_cleanly(set_colour)
    assert (wrapped.__name__, wrapped.__doc__) == ("set_colour", "Set a colour.")
    assert wrapped.__wrapped__ is set_colour


def test_set_password_ends_sessions_and_changes_the_password(client, cli, alice):
    new = "a brand new passphrase"
    result = cli("users", "set-password", "alice", "--password-stdin", input=f"{new}\n")
    assert result.exit_code == 0, result.output
    assert client.get("/me", headers=alice.headers).status_code == 401
    assert (
        client.post("/login", json={"username": "alice", "password": PASSWORD}).status_code == 401
    )
    assert client.post("/login", json={"username": "alice", "password": new}).status_code == 200


def test_set_password_refuses_a_weak_one_and_keeps_sessions(client, cli, alice):
    result = cli("users", "set-password", "alice", "--password-stdin", input="12345678\n")
    _failed(result, "password refused: Is too common; choose another.")
    assert client.get("/me", headers=alice.headers).status_code == 200


def test_deactivate_ends_sessions_and_activate_lets_the_user_back(client, cli, alice):
    assert cli("users", "deactivate", "alice").exit_code == 0
    assert client.get("/me", headers=alice.headers).status_code == 401
    assert client.post("/refresh", json={"refresh_token": alice.refresh_token}).status_code == 401
    assert (
        client.post("/login", json={"username": "alice", "password": PASSWORD}).status_code == 401
    )
    assert cli("users", "activate", "alice").exit_code == 0
    assert (
        client.post("/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    )


def test_promote_and_demote_take_effect_on_the_next_request(client, cli, make_user, alice):
    make_user("root", is_admin=True)
    assert client.get("/users", headers=alice.headers).status_code == 403
    assert cli("users", "promote", "alice").exit_code == 0
    assert client.get("/users", headers=alice.headers).status_code == 200
    assert cli("users", "demote", "alice").exit_code == 0
    assert client.get("/users", headers=alice.headers).status_code == 403


def test_revoke_ends_every_session_of_the_user(client, cli, login, alice):
    second = login("alice")
    result = cli("users", "revoke", "alice")
    assert result.exit_code == 0
    assert result.output.strip() == "2 session(s) and 0 personal access token(s) ended"
    assert client.get("/me", headers=alice.headers).status_code == 401
    assert client.get("/me", headers=second.headers).status_code == 401


def test_delete_asks_and_no_keeps_the_user(app, cli, alice, terminal):
    result = cli("users", "delete", "alice", input="n\n")
    _failed(result, "not deleted")
    assert "alice" in _users(app)


def test_delete_with_yes_removes_user_notes_and_sessions(app, client, cli, alice):
    client.post("/notes", json={"title": "t"}, headers=alice.headers)
    assert cli("users", "delete", "alice", "--yes").exit_code == 0
    assert _users(app) == {}
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(LoginSession)) == 0


def test_mfa_reset_of_a_user_without_totp_says_so_and_changes_nothing(app, client, cli, alice):
    before = _audit_events(app)
    result = cli("users", "mfa-reset", "alice")
    assert result.exit_code == 0
    assert result.stdout == "'alice' has no second factor; nothing changed\n"
    assert client.get("/me", headers=alice.headers).status_code == 200
    assert _audit_events(app) == before


def _audit_events(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent.event).order_by(AuditEvent.id)))


@pytest.mark.parametrize(
    "args",
    [
        ("users", "set-password", "nobody", "--password-stdin"),
        ("users", "activate", "nobody"),
        ("users", "deactivate", "nobody"),
        ("users", "promote", "nobody"),
        ("users", "demote", "nobody"),
        ("users", "revoke", "nobody"),
        ("users", "delete", "nobody", "--yes"),
    ],
)
def test_commands_on_an_unknown_user_fail_cleanly(cli, args):
    _failed(cli(*args, input=f"{PASSWORD}\n"), "no user named 'nobody'")


def test_prune_deletes_expired_and_revoked_session_records(clock, app, client, cli, login, alice):
    kept = login("alice")
    client.post("/logout", headers=alice.headers)
    result = cli("sessions", "prune")
    assert result.output.strip() == "1 session record(s) deleted"
    clock.shift(31 * 24 * 3600)
    assert cli("sessions", "prune").output.strip() == "1 session record(s) deleted"
    assert cli("sessions", "prune").output.strip() == "0 session record(s) deleted"
    assert kept.access_token


def test_shell_context_has_the_models(app):
    with app.app_context():
        context = app.make_shell_context()
    assert context["User"] is User and context["LoginSession"] is LoginSession
    assert context["db"] is db and context["Note"].__tablename__ == "notes"


def test_shell_context_has_every_mapped_class_of_the_models(app):
    with app.app_context():
        context = app.make_shell_context()
    mapped = {
        name: value
        for name, value in vars(models).items()
        if isinstance(value, type) and issubclass(value, db.Model) and value is not db.Model
    }
    assert {"AuditEvent", "MfaChallenge", "PersonalToken", "RecoveryCode"} <= set(mapped)
    assert {name: context.get(name) for name in mapped} == mapped


def test_manage_py_runs_as_a_program(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SECRET_KEY": "k" * 64,
        **CHEAP_HASHING_ENV,
    }

    def manage(*args, stdin=None):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert manage("init-db").returncode == 0
    again = manage("init-db")  # safe to run twice
    assert again.returncode == 0 and "already at revision" in again.stdout
    created = manage(
        "users", "create", "alice", "--admin", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert created.returncode == 0, created.stderr
    # What the command prints on stdout, its audit event on stderr: never the two mixed.
    assert created.stdout == "created user 'alice' (id 1, admin)\n"
    event = json.loads(created.stderr)
    assert (event["event"], event["client"], event["user_id"]) == ("user_created", "cli", 1)
    taken = manage("users", "create", "alice", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert taken.returncode == 1
    assert taken.stderr.strip() == "error: username 'alice' is taken"
    listed = manage("users", "list", "--json")
    assert json.loads(listed.stdout)["username"] == "alice"
    trail = manage("audit", "list", "--json")
    assert trail.stderr == ""
    assert [json.loads(line)["id"] for line in trail.stdout.splitlines()] == [event["id"]]
    pruned = manage("audit", "prune")
    assert pruned.stdout == "0 audit event(s) deleted\n"
    assert json.loads(pruned.stderr)["event"] == "audit_pruned"
    shell = manage("shell", stdin="print(db.session.scalar(db.select(User.username)))\n")
    assert "alice" in shell.stdout
