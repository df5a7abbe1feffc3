"""Tessera's administration tool in a clone: ``python manage.py --help``; installed: ``tessera``."""

from api.cli import cli

if __name__ == "__main__":
    cli()
