"""What every command shares: one error line and exit 1, password prompts, tables."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click
from flask import has_app_context
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from api import database
from api.database import db
from api.errors import ServiceError


class CommandError(click.ClickException):
    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def fail_cleanly(command):
    """Turn a refused use case into one line on stderr and exit code 1."""

    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ServiceError as exc:
            db.session.rollback()
            raise CommandError(exc.detail) from None

    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    return run


INIT_DB = "python manage.py init-db"


@contextlib.contextmanager
def failures_explained() -> Iterator[None]:
    """Turn what any command can meet (no database, no schema yet, no terminal) into one line.

    ``manage.py`` runs every command inside this, so no failure ends in a traceback.
    """
    try:
        yield
    except click.Abort:
        raise CommandError("aborted; nothing changed") from None
    except SQLAlchemyError as exc:
        if has_app_context():
            with contextlib.suppress(SQLAlchemyError):
                db.session.rollback()
        raise CommandError(_describe_database_error(exc)) from None


def _describe_database_error(error: SQLAlchemyError) -> str:
    cause = getattr(error, "orig", None) or error
    said = " ".join(str(cause).split()) or type(cause).__name__  # one line, never the SQL
    if database.is_missing_schema_error(error):
        with contextlib.suppress(SQLAlchemyError):
            problem = database.schema_problem()
            if problem:
                return f"{problem}: run `{INIT_DB}`"
        return f"the database lacks what this code uses ({said}): run `{INIT_DB}`"
    if isinstance(error, OperationalError):
        url = db.engine.url if has_app_context() else None
        if url is not None and url.get_backend_name() == "sqlite":
            return f"cannot open the SQLite database {url.database}: {said}"
        return f"cannot reach the database: {said}"
    if isinstance(error, DBAPIError):
        return f"the database refused the command: {said}"
    return f"database error: {said}"


def stdin_is_a_terminal() -> bool:
    """Tell whether someone can be asked a question on standard input."""
    return sys.stdin.isatty()


def read_new_password(from_stdin: bool) -> str:
    """Read a password from stdin, or ask twice without echo; never from argv."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
    if not stdin_is_a_terminal():
        raise CommandError("no terminal to ask for the password: use --password-stdin")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def echo_table(columns: list[str], records: list[dict]) -> None:
    """Print ``records`` as a table of ``columns``, a header first; a missing value is ``-``."""
    rows = [[_cell(r[c]) for c in columns] for r in records]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    for row in [columns, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip())


def _cell(value) -> str:
    if value is None:
        return "-"
    return ",".join(value) if isinstance(value, list) else str(value)
