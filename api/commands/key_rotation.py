"""``manage.py secret``: rotate the keys: the token signing key and the MFA encryption key."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from api.commands.common import CommandError
from api.credentials import secret_box, signing_keys
from api.services import mfa_key_rotation, personal_access_tokens

secret = AppGroup("secret", help="Rotate the token signing key and the MFA encryption key.")


@secret.command("rotate")
@click.option(
    "--drop-old",
    is_flag=True,
    help=(
        "Remove keys no live token can name any more: those replaced longer ago than the "
        "longest session token lifetime, unless a live personal access token was signed "
        "with them."
    ),
)
def rotate(drop_old: bool) -> None:
    """Add a new signing key; older keys keep verifying the tokens they signed.

    A personal access token lives up to PERSONAL_TOKEN_MAX_AGE, so --drop-old keeps every
    key a live one was signed with (revoke such tokens to let their key go).
    """
    config = current_app.config
    if config["SECRET_KEY_FROM_CONFIG"]:
        raise CommandError(
            "SECRET_KEY is configured, not generated: rotate it by setting SECRET_KEY "
            "and SECRET_KEY_FALLBACKS"
        )
    try:
        # Asked first, so that a database that cannot answer leaves the keys as they were.
        in_use = personal_access_tokens.key_ids_in_use() if drop_old else set()
    except SQLAlchemyError:
        raise CommandError(
            "the database cannot say which keys live personal access tokens need; "
            "no key was added or dropped"
        ) from None
    try:
        count = signing_keys.rotate_key(current_app.instance_path)
        click.echo(f"new signing key added; {count} key(s) held; restart the server to use it")
        if drop_old:
            longest = max(config["ACCESS_TOKEN_MAX_AGE"], config["REFRESH_TOKEN_MAX_AGE"])
            dropped = signing_keys.drop_old_keys(current_app.instance_path, longest, in_use)
            click.echo(f"{dropped} old key(s) dropped")
    except signing_keys.KeyFileError as exc:
        raise CommandError(str(exc)) from None


@secret.command("rotate-mfa-key")
@click.option(
    "--drop-old",
    is_flag=True,
    help="Then remove the older keys from the instance key file: no stored secret needs them.",
)
def rotate_mfa_key(drop_old: bool) -> None:
    """Encrypt every stored TOTP secret again with a new key (MultiFernet.rotate).

    With the keys in the instance folder, a new key is added first. With MFA_ENCRYPTION_KEYS
    configured, put the new key first on every host and restart them, then run this to
    re-encrypt with it; remove the old key from the configuration afterwards.
    """
    config = current_app.config
    configured = config["MFA_ENCRYPTION_KEYS"]
    if configured and drop_old:
        raise CommandError(
            "MFA_ENCRYPTION_KEYS is configured: drop an old key by removing it from the "
            "configuration of every host"
        )
    instance = current_app.instance_path
    try:
        before, after = ([], []) if configured else secret_box.add_file_key(instance)
        box = secret_box.SecretBox(configured, instance)
        try:
            count = mfa_key_rotation.reencrypt_secrets(box)
        except (SQLAlchemyError, secret_box.UndecryptableSecret) as exc:
            if before:
                secret_box.write_file_keys(instance, before)  # as it was: nothing changed
            # A database error's text would show its SQL statement: name the cause only.
            cause = str(exc) if isinstance(exc, RuntimeError) else "the database failed"
            raise CommandError(f"no secret was re-encrypted: {cause}") from None
        if drop_old and not configured:
            secret_box.write_file_keys(instance, after[-1:])
    except signing_keys.KeyFileError as exc:
        raise CommandError(str(exc)) from None
    click.echo(f"{count} secret(s) encrypted with the newest MFA key")
    if not configured:
        held = 1 if drop_old else len(after)
        click.echo(f"{held} MFA key(s) held in {secret_box.KEY_FILE}")
