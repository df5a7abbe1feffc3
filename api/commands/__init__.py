"""The administrator's CLI: ``init-db`` and the ``users``, ``sessions``, ``tokens``, ``audit``
and ``secret`` groups.

Every failure is one line on stderr and exit code 1, and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from api import models
from api.commands.audit_events import audit
from api.commands.common import CommandError, explain_failures, failures_explained
from api.commands.key_rotation import secret
from api.commands.mail import mail
from api.commands.maintenance import init_db, sessions_group
from api.commands.passkeys import passkeys_group
from api.commands.personal_access_tokens import tokens_group
from api.commands.users import users
from api.database import db

__all__ = ["COMMANDS", "CommandError", "failures_explained", "init_app"]

COMMANDS = (init_db, users, sessions_group, tokens_group, audit, secret, mail, passkeys_group)
for _command in COMMANDS:
    explain_failures(_command)


def shell_context() -> dict[str, Any]:
    """Name ``db`` and every mapped class of ``api.models`` in ``manage.py shell``.

    Read from the mapper registry, so a table added to the models is there with no change here.
    """
    mapped = [
        mapper.class_
        for mapper in db.Model.registry.mappers
        if mapper.class_.__module__ == models.__name__
    ]
    return {"db": db, **{cls.__name__: cls for cls in sorted(mapped, key=lambda c: c.__name__)}}


def init_app(app: Flask) -> None:
    """Register the commands and the shell's ready-made names."""
    for command in COMMANDS:
        app.cli.add_command(command)
    app.shell_context_processor(shell_context)
