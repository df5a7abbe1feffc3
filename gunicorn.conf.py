"""gunicorn's production settings for Tessera, read from the project root:

    gunicorn -b 0.0.0.0:8000 'api:create_app()'

The settings are the package's (``api/gunicorn_settings.py``), which an installed Tessera reads
with ``gunicorn -c python:api.gunicorn_settings``; see that module.
"""

from __future__ import annotations

import runpy

# Run afresh each time gunicorn reads this file (at start and on a HUP reload), as a file of
# settings is: the environment and instance/config.py of that moment count. An import would
# keep the first reading for the life of the process.
globals().update(
    (name, value)
    for name, value in runpy.run_module("api.gunicorn_settings").items()
    if not name.startswith("__")
)
