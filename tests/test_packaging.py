"""The package: `pip wheel .` builds one wheel that ships the data files and carries the version.

The wheel is built from a copy of what the build reads, so the checkout gets no ``build/`` or
``*.egg-info``, offline (``--no-build-isolation``: the venv's setuptools, no download).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from api import __version__

ROOT = Path(__file__).resolve().parent.parent
# What setup.cfg and pyproject.toml read, besides the package itself.
BUILD_INPUTS = ("pyproject.toml", "setup.cfg", "README.md", "LICENSE", "requirements.txt")
BUILD_TIMEOUT = 120


def _copy_sources(target: Path) -> Path:
    """Copy the package and the files its build reads into ``target``; return the migrations."""
    for name in BUILD_INPUTS:
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "api", target / "api", ignore=shutil.ignore_patterns("__pycache__"))
    return target / "api" / "migrations"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build the wheel once for the module: its path, and the migrations it was built from."""
    tmp_path = tmp_path_factory.mktemp("packaging")
    source = tmp_path / "source"
    source.mkdir()
    migrations = _copy_sources(source)
    # A Flask that cannot be imported: setuptools must read the version without importing
    # the package (a plain assignment is read from the source).
    poison = tmp_path / "poison" / "flask"
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("raise ImportError('the build imported Flask')\n")
    out = tmp_path / "wheels"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", str(source)),
            *("--no-deps", "--no-build-isolation", "--no-index", "--quiet", "-w", str(out)),
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(poison.parent), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("*.whl")
    return wheel, migrations


def test_the_openapi_document_carries_the_package_version(client):
    assert client.get("/openapi.json").get_json()["info"]["version"] == __version__


@pytest.mark.slow
def test_the_wheel_is_named_and_versioned_by_api_version(built):
    wheel, _ = built
    assert wheel.name == f"tessera-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"tessera-{__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in metadata
    assert "\nLicense: MIT\n" in metadata


@pytest.mark.slow
def test_the_wheel_ships_the_password_list_the_migrations_and_the_license(built):
    wheel, migrations = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "api/data/common-passwords.txt" in names
    assert f"tessera-{__version__}.dist-info/licenses/LICENSE" in names
    shipped = {
        f"api/migrations/{path.relative_to(migrations).as_posix()}"
        for path in migrations.rglob("*")
        if path.is_file()
    }
    assert {"api/migrations/env.py", "api/migrations/script.py.mako"} <= shipped
    assert any(name.startswith("api/migrations/versions/") for name in shipped)
    assert shipped <= names, sorted(shipped - names)


@pytest.mark.slow
def test_the_wheel_holds_only_the_api_package(built):
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"api", f"tessera-{__version__}.dist-info"}
