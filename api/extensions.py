"""Extensions, created unbound here and bound to the app in ``create_app``."""

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from .clients import client_address


class Base(DeclarativeBase):
    pass


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
migrate = Migrate()
login_manager = TokenLoginManager()
login_manager.session_protection = None
limiter = Limiter(key_func=client_address)
api = Api()
