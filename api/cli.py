"""Tessera's administration tool: the ``tessera`` command, also ``python manage.py`` in a clone.

Every command of ``init-db``, ``users``, ``sessions``, ``tokens``, ``audit`` and ``secret``, and
Flask's ``run``, ``shell`` and ``db``; every failure, a configuration the app cannot start with
included, is one line on stderr and exit code 1.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo

from api import create_app
from api.commands import CommandError, failures_explained

__all__ = ["cli", "main"]


def create_app_or_explain() -> Flask:
    """Build the app; a configuration it cannot start with is one line on stderr, exit 1."""
    try:
        return create_app()
    except RuntimeError as exc:  # ConfigError, the key files' errors, DatabaseURLError
        raise CommandError(str(exc)) from None


class ManageGroup(FlaskGroup):
    """Flask's command group, where every failure of every command is one line, exit 1."""

    def invoke(self, ctx: click.Context):
        with failures_explained():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Flask would print the traceback of an app that cannot be built, then the help.
        ctx.ensure_object(ScriptInfo).load_app()
        return super().list_commands(ctx)


cli = ManageGroup(
    create_app=create_app_or_explain, help="Administer Tessera: users, sessions, keys."
)


def main() -> None:
    """The ``tessera`` console script."""
    cli()
