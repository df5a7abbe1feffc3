"""Tessera's administration tool: ``python manage.py --help``."""

from flask import Flask
from flask.cli import FlaskGroup

from api import create_app
from api.commands import CommandError
from api.keys import SigningKeyError


def create_app_or_explain() -> Flask:
    """Build the app; a configuration it cannot start with is one line on stderr, exit 1."""
    try:
        return create_app()
    except (SigningKeyError, RuntimeError) as exc:
        raise CommandError(str(exc)) from None


cli = FlaskGroup(
    create_app=create_app_or_explain, help="Administer Tessera: users, sessions, keys."
)

if __name__ == "__main__":
    cli()
