"""Tessera's administration tool: ``python manage.py --help``."""

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo

from api import create_app
from api.commands import CommandError, failures_explained
from api.credentials.signing_keys import SigningKeyError


def create_app_or_explain() -> Flask:
    """Build the app; a configuration it cannot start with is one line on stderr, exit 1."""
    try:
        return create_app()
    except (SigningKeyError, RuntimeError) as exc:
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

if __name__ == "__main__":
    cli()
