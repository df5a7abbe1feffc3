"""Every package the service and its tests install is pinned to one exact version."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from support import ROOT

PIN_FILES = ("requirements.txt", "requirements-dev.txt", "constraints.txt")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]+\])?==(\S+)$")


def _pins() -> tuple[dict[str, str], list[Requirement]]:
    """Each pinned name's version, and the direct requirements (with their extras)."""
    pins: dict[str, str] = {}
    direct: list[Requirement] = []
    for name in PIN_FILES:
        for raw in (ROOT / name).read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("-r "):
                continue
            match = _PIN.match(line)
            assert match, f"{name}: {line!r} is not pinned to one exact version"
            key = canonicalize_name(match.group(1))
            assert pins.setdefault(key, match.group(3)) == match.group(3), f"{key} pinned twice"
            if name != "constraints.txt":
                direct.append(Requirement(line))
    return pins, direct


def test_every_package_the_pinned_ones_require_is_pinned_and_installed_at_its_pin():
    pins, direct = _pins()
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(canonicalize_name(r.name), frozenset(r.extras)) for r in direct]
    unpinned: list[str] = []
    while queue:
        name, extras = queue.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        assert metadata.version(name) == pins[name], f"{name} installed is not its pin"
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            )
            if not wanted:
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency not in pins:
                unpinned.append(f"{dependency} (for {name})")
                continue
            assert requirement.specifier.contains(pins[dependency], prereleases=True), (
                f"{name} wants {requirement}, {dependency} is pinned to {pins[dependency]}"
            )
            queue.append((dependency, frozenset(requirement.extras)))
    assert unpinned == []
    assert len(seen) > len(direct)  # the walk went past the direct pins
