"""The peer: ``GET /me`` as Flask-JWT-Extended's documentation builds it, on the same database.

Automatic user loading, as the documentation shows it: a ``user_lookup_loader`` that loads
the user by id with Flask-SQLAlchemy (``db.session.get``), ``@jwt_required()`` on the view,
``current_user`` in it, and tokens from ``create_access_token(identity=str(user.id))``. The
model maps Tessera's own ``users`` table, so the peer reads the very rows Tessera does.
A development and benchmark dependency only (requirements-dev.txt).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token, current_user, jwt_required
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ME_PATH = "/me"


class PeerBase(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=PeerBase)


class PeerUser(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64))
    is_admin: Mapped[bool]
    created_at = mapped_column(sa.DateTime(timezone=True))


def peer_app(database_url: str, secret_key: str) -> Flask:
    """Build the peer on the database at ``database_url`` (Tessera's, already seeded)."""
    app = Flask("jwt_peer")
    app.config["JWT_SECRET_KEY"] = secret_key
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    jwt = JWTManager(app)
    db.init_app(app)

    @jwt.user_lookup_loader
    def user_lookup_callback(_jwt_header, jwt_data):
        return db.session.get(PeerUser, int(jwt_data["sub"]))

    @app.get(ME_PATH)
    @jwt_required()
    def me():
        return {
            "id": current_user.id,
            "username": current_user.username,
            "is_admin": current_user.is_admin,
            "created_at": current_user.created_at.isoformat(),
        }

    return app


def http_app(instance_path: str) -> Flask:
    """The gunicorn entry point: the peer on the database and key the environment names (a
    Tessera deployment's), with a ``/health`` to say it is up."""
    app = peer_app(os.environ["DATABASE_URL"], os.environ["SECRET_KEY"])
    app.add_url_rule("/health", "health", lambda: {"status": "ok"})
    return app


def peer_token(app: Flask, username: str) -> str:
    """Return an access token for ``username``, made the way the documentation makes one."""
    with app.app_context():
        user = db.session.scalar(sa.select(PeerUser).where(PeerUser.username == username))
        return create_access_token(identity=str(user.id))


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
