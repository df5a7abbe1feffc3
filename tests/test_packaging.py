"""The package: `pip wheel .` builds one wheel that ships the data files and carries the version,
and that wheel, installed, runs the README's Deployment commands from any folder.

The wheel is built from a copy of what the build reads, so the checkout gets no ``build/`` or
``*.egg-info``, offline (``--no-build-isolation``: the venv's setuptools, no download).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest
from support.accounts import PASSWORD
from support.hashing import CHEAP_HASHING_ENV
from support.loopback import Unanswered, call, closed_loopback_port

from api import __version__
from api.config import BY_NAME

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


# The installed wheel, used as the README's Deployment section says, from outside the clone.

MISSING_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/x"
START_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    """A fresh virtual environment holding the wheel; its dependencies are the project venv's
    (a ``.pth`` file), so nothing is downloaded. Returns the environment's ``bin`` folder."""
    wheel, _ = built
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    (site_packages / "dependencies.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")),
            *("install", "--no-deps", "--no-index", "--quiet", str(wheel)),
        ],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    return venv / "bin"


def _outside(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of an operator's shell: no clone on the path, no setting of ours."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in BY_NAME and not name.startswith(("TEST_", "PYTHON", "FLASK_"))
    }
    return {**env, **CHEAP_HASHING_ENV, "TESSERA_INSTANCE_PATH": str(tmp_path), **settings}


def _run(bin_: Path, *args: str, cwd: Path, env: dict, input: str | None = None):
    return subprocess.run(
        [str(bin_ / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_the_installed_package_runs_the_deployment_commands_from_any_folder(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    instance = tmp_path / "instance"
    # The README's key recipe, with the installed environment's python, from another folder.
    recipe = "import secrets; print(secrets.token_hex(32))"
    key = _run(installed, "python", "-c", recipe, cwd=elsewhere, env=os.environ.copy())
    secret_key = key.stdout.strip()
    assert len(secret_key) == 64
    env = _outside(instance, SECRET_KEY=secret_key)

    where = _run(
        installed, "python", "-c", "import api; print(api.__file__)", cwd=elsewhere, env=env
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent)  # the wheel's, not ours

    init = _run(installed, "tessera", "init-db", cwd=elsewhere, env=env)
    assert init.returncode == 0, init.stderr
    database = f"sqlite:///{instance / 'tessera.db'}"
    assert init.stdout.splitlines()[0] == f"instance folder: {instance}, database: {database}"
    assert (instance / "tessera.db").exists() and (instance / "mfa_keys.json").exists()

    created = _run(
        installed,
        *("tessera", "users", "create", "alice", "--admin", "--password-stdin"),
        cwd=elsewhere,
        env=env,
        input=f"{PASSWORD}\n",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout == "created user 'alice' (id 1, admin)\n"

    port = closed_loopback_port()
    log = tmp_path / "gunicorn.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [
                *(str(installed / "python"), "-m", "gunicorn"),
                *("-c", "python:api.gunicorn_settings", "-b", f"127.0.0.1:{port}"),
                # As support.servers starts gunicorn: a stop takes seconds, not the 30 a worker
                # in production is given to finish its requests.
                *("--graceful-timeout", "5"),
                "api:create_app()",
            ],
            cwd=elsewhere,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_health(port, server, log)
        login = call(port, "POST", "/login", {"username": "alice", "password": PASSWORD})
        assert login.status == 200, login.body
        me = call(port, "GET", "/me", token=login.body["access_token"])
        assert (me.status, me.body["username"]) == (200, "alice")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"instance folder: {instance}, database: {database}" in log.read_text()
    assert not (installed.parent / "var").exists()  # nothing kept in the virtual environment


def _wait_for_health(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        with contextlib.suppress(Unanswered):
            if call(port, "GET", "/health", timeout=2).status == 200:
                return
        time.sleep(0.1)  # polling a starting server: nothing to wait on but its socket
    raise AssertionError(f"gunicorn did not answer within {START_TIMEOUT} s: {log.read_text()}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [("tessera", "init-db"), ("python", "-m", "flask", "--app", "api", "init-db")],
    ids=["tessera", "flask"],
)
def test_a_missing_postgresql_database_is_one_line_when_installed(installed, tmp_path, command):
    env = _outside(tmp_path, SECRET_KEY="k" * 64, DATABASE_URL=MISSING_DATABASE)
    result = _run(installed, *command, cwd=tmp_path, env=env)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot reach the database: connection failed: ")
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.slow
def test_installed_without_an_instance_folder_it_asks_for_one(installed, tmp_path):
    env = _outside(tmp_path, SECRET_KEY="k" * 64)
    del env["TESSERA_INSTANCE_PATH"]
    result = _run(installed, "tessera", "users", "list", cwd=tmp_path, env=env)
    assert result.returncode == 1
    venv_default = installed.parent / "var" / "api-instance"
    assert result.stderr == (
        "error: TESSERA_INSTANCE_PATH must be set to the folder for config.py, the database and "
        f"the key files (the default, {venv_default}, is inside the virtual environment)\n"
    )
    assert not venv_default.exists()


@pytest.mark.slow
def test_installed_a_bad_setting_is_one_line_for_tessera_and_gunicorn(installed, tmp_path):
    env = _outside(tmp_path, SECRET_KEY="k" * 64, REDIS_URL="notaurl")
    expected = f"error: {BY_NAME['REDIS_URL'].refusal}\n"
    assert _run(installed, "tessera", "users", "list", cwd=tmp_path, env=env).stderr == expected
    gunicorn = _run(
        installed,
        *("python", "-m", "gunicorn", "-c", "python:api.gunicorn_settings", "api:create_app()"),
        cwd=tmp_path,
        env=env,
    )
    assert (gunicorn.returncode, gunicorn.stderr) == (1, expected)
