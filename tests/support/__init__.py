"""What tests and the benchmark share: backends, gunicorn servers, accounts, seeding, tokens.

Tests import it as ``support`` (pytest puts ``tests/`` on ``sys.path`` for ``conftest.py``);
the benchmark puts ``tests/`` on the path itself. Fixtures stay in ``conftest.py``.
"""

from pathlib import Path

# The checkout: where manage.py and gunicorn.conf.py are.
ROOT = Path(__file__).resolve().parents[2]
