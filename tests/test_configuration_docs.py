"""docs/configuration.md names every setting the app reads, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from api.config import SETTINGS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def documented_names() -> set[str]:
    """Return every setting name in the first column of the document's tables."""
    names: set[str] = set()
    for line in DOCS.read_text().splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_every_setting_is_documented():
    assert {setting.name for setting in SETTINGS} <= documented_names()


def test_the_document_names_no_setting_the_app_does_not_read():
    assert documented_names() <= {setting.name for setting in SETTINGS}
