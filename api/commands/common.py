"""What every command shares: one error line and exit 1, password prompts, tables, records
dumped through the API's own schemas."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

import click
from flask import current_app, has_app_context
from marshmallow import Schema
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from api import database
from api.database import db
from api.errors import Invalid, ServiceError
from api.services import accounts, mail_delivery

Command = TypeVar("Command", bound=Callable[..., Any])


class CommandError(click.ClickException):
    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def fail_cleanly(command: Command) -> Command:
    """Turn a refused use case into one line on stderr and exit code 1.

    The session is rolled back here, at the command's edge, as Flask's teardown does for a
    request: whatever the refused use case had begun is not left for the next one.
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ServiceError as exc:
            db.session.rollback()
            raise CommandError(exc.detail) from None

    return cast(Command, run)


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


def explain_failures(command: click.Command) -> None:
    """Run ``command``, and each command of a group, inside ``failures_explained``.

    However the command is reached (``manage.py``, the ``tessera`` script or Flask's own
    ``flask --app api``), a failure is then one line. Done once per command: the commands are
    module-level objects every app shares.
    """
    callback = command.callback
    if callback is not None and not getattr(callback, "failures_explained", False):

        @functools.wraps(callback)
        def run(*args, **kwargs):
            with failures_explained():
                result = callback(*args, **kwargs)
                deliver_what_was_made()
                return result

        run.failures_explained = True  # type: ignore[attr-defined]
        command.callback = run
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            explain_failures(subcommand)


def deliver_what_was_made() -> None:
    """Deliver the mail the command made, if ``MAIL_URL`` is set; a refused one waits."""
    report = mail_delivery.deliver_owed(current_app)
    if report is not None and report.failed:
        click.echo("the mail server did not take the mail: it waits in the outbox", err=True)


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


def retention_days(days: str | None) -> int:
    """The days an ``--older-than`` option asks to keep, else ``AUDIT_RETENTION_DAYS``."""
    if days is None:
        return int(current_app.config["AUDIT_RETENTION_DAYS"])
    if days.isascii() and days.isdigit():
        return int(days)
    raise CommandError("--older-than must be a whole number of days")


def stdin_is_a_terminal() -> bool:
    """Tell whether someone can be asked a question on standard input."""
    return sys.stdin.isatty()


def read_new_password(from_stdin: bool, username: str) -> str:
    """Read ``username``'s new password from stdin, or ask twice without echo; never from argv.

    Asked, the first entry meets the password rules before the second is asked for: a refused
    one is explained and asked for again, rather than typed twice and then refused.
    """
    if from_stdin:
        try:
            password = sys.stdin.readline().rstrip("\r\n")
        except UnicodeDecodeError:  # a strict locale's stdin; others hand over surrogates
            raise CommandError("password refused: Must be valid Unicode text.") from None
        if not password:
            raise CommandError("no password on standard input")
        return password
    if not stdin_is_a_terminal():
        raise CommandError("no terminal to ask for the password: use --password-stdin")
    while True:
        password = click.prompt("Password", hide_input=True)
        try:
            accounts.check_new_password(password, username)
        except Invalid as refused:
            click.echo(refused.detail, err=True)  # never the password itself
            continue
        if click.prompt("Repeat for confirmation", hide_input=True) == password:
            return password
        click.echo("The two entered values do not match.", err=True)


def echo_records(schema: Schema, records: Iterable[Any], as_json: bool) -> None:
    """Print ``records`` dumped through ``schema`` (the API's own, so the CLI shows what the
    API answers): with ``as_json`` one JSON object a line, else a table of the same fields."""
    dumped = (schema.dump(record) for record in records)
    if as_json:
        for record in dumped:
            click.echo(json.dumps(record))
        return
    columns = list(schema.dump_fields)
    echo_table(columns, ([cell(record[c]) for c in columns] for record in dumped))


# Rows a table aligns at once: a listing of millions streams in the memory of one page.
TABLE_PAGE = 500


def echo_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print the header ``columns``, always, then ``rows`` of cells already written (``cell``).

    Columns are aligned over the header and the rows printed so far, a page at a time, so
    widths only grow: a table of one page is aligned throughout, and a longer one is streamed
    rather than held. The last column is not padded, so it may hold free text.
    """
    remaining = iter(rows)
    pages = iter(lambda: list(itertools.islice(remaining, TABLE_PAGE)), [])
    widths = [0] * len(columns)
    for page in itertools.chain([[list(columns), *next(pages, [])]], pages):
        widths = [max(width, *(len(row[i]) for row in page)) for i, width in enumerate(widths)]
        for row in page:
            click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def cell(value: Any) -> str:
    """Write one value as a table cell: ``-`` for none, a list joined by commas, and text
    made printable."""
    if value is None:
        return "-"
    return printable(",".join(value) if isinstance(value, list) else str(value))


def printable(text: str) -> str:
    """Escape what a terminal would act on rather than show, and the backslash itself.

    A name is chosen by its owner: a newline in a token's name must not forge a table row,
    nor an escape sequence repaint the administrator's screen. Backslashes are doubled, so a
    name that spells ``\\n`` stays distinct from one that holds a newline.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    return char.encode("unicode_escape").decode("ascii")
