"""Tessera's administration tool: ``python manage.py --help``."""

from flask.cli import FlaskGroup

from api import create_app

cli = FlaskGroup(create_app=create_app, help="Administer Tessera: users, sessions, keys.")

if __name__ == "__main__":
    cli()
