"""Extensions, created unbound here and bound to the app in ``create_app``."""

from pathlib import Path

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .clients import client_address

# Constraint names spelled the way PostgreSQL names them by default, so a database an older
# create_all made matches the migrations, and SQLite's batch migrations can name a constraint.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}
# Beside the package, not the working directory, so any process finds them.
MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent.parent / "migrations"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TokenLoginManager(LoginManager):
    """Flask-Login that knows bearer tokens only.

    Stock Flask-Login looks for a user id in the cookie session and a remember-me cookie
    before it asks the request loader, so either cookie would outlive a logout. Here the
    request loader is the only way in.
    """

    def _load_user(self):
        user = self._load_user_from_request(request)
        return self._update_request_context_with_user(user)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=MIGRATIONS_DIRECTORY, render_as_batch=True)
login_manager = TokenLoginManager()
login_manager.session_protection = None
limiter = Limiter(key_func=client_address)
api = Api()
