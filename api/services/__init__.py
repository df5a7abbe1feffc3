"""The use cases HTTP and CLI share. They take plain values, commit once, raise ServiceError."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from ..extensions import db

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int


def paginate(query: Select[Any], page: int, per_page: int) -> Page[Any]:
    """Run ``query`` for one page and count all its rows: two statements whatever the size."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, per_page, total or 0)
