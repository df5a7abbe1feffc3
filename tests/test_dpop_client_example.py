"""The README's DPoP client example, run exactly as written against a live server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support import ROOT
from support.accounts import PASSWORD
from support.recipes import code_blocks

pytestmark = pytest.mark.slow

# The README's example, as a reader copies it.
(CLIENT_EXAMPLE,) = (
    block.script
    for block in code_blocks(
        (ROOT / "README.md").read_text(), "Sender-constrained tokens (DPoP)", ("python",)
    )
)


def test_the_client_example_logs_in_with_a_proof_and_calls_me(make_user, live_server):
    make_user("alice")
    env = {"PATH": os.environ["PATH"], "TESSERA_URL": live_server, "TESSERA_PASSWORD": PASSWORD}
    ran = subprocess.run(
        [sys.executable, "-c", CLIENT_EXAMPLE], env=env, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    (me,) = ran.stdout.splitlines()
    assert "'username': 'alice'" in me
    assert "'token_type': 'DPoP'" in me  # the login was bound, and /me needed a proof
