"""The PgBouncer sample operators copy is the configuration the PgBouncer tests run through."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from support.pgbouncer import read_sample, sample_settings

# What a test run fills in: its own database, port, trusted users and a small pool.
FILLED = {"listen_addr", "listen_port", "auth_type", "auth_file", "default_pool_size"}


def test_the_pgbouncer_tests_keep_every_other_setting_of_the_sample(tmp_path):
    server = sa.make_url("postgresql+psycopg://tessera:secret@192.0.2.1:5433/postgres")
    filled = sample_settings(server, "Tessera_Run", 6543, tmp_path / "users.txt", 3)
    sample = read_sample()
    assert dict(filled["databases"]) == {
        "Tessera_Run": "host=192.0.2.1 port=5433 dbname=Tessera_Run user=tessera password=secret"
    }
    kept = {k: v for k, v in filled["pgbouncer"].items() if k not in FILLED}
    assert kept == {k: v for k, v in sample["pgbouncer"].items() if k not in FILLED}
    assert (filled["pgbouncer"]["listen_port"], filled["pgbouncer"]["auth_type"]) == (
        "6543",
        "trust",
    )
    assert Path(filled["pgbouncer"]["auth_file"]) == tmp_path / "users.txt"


def test_the_sample_pools_transactions_for_many_clients():
    settings = read_sample()["pgbouncer"]
    assert settings["pool_mode"] == "transaction"
    assert settings["listen_addr"] == "127.0.0.1"  # never every interface by default
    assert int(settings["max_client_conn"]) > 10 * int(settings["default_pool_size"])
    assert "max_prepared_statements" not in settings  # Tessera's docs say when to set it
