"""gevent's event loop, when gunicorn's gevent worker (gunicorn.conf.py) runs this process.

There every connection is a greenlet on one OS thread: work that holds the thread (an Argon2
hash) stops every connection of the process, and a wait can be cut short by a timer (a request
body's deadline). Anywhere else (the CLI, tests, a threaded server) both are plain calls.

On SQLite nothing that waits (a Redis call, ``run_off_loop``) may come between a write and its
commit: another request's write would then wait in SQLite's busy handler, which sleeps on the
loop's one thread, so nothing runs (the first commit included) until its timeout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

Result = TypeVar("Result")


def running() -> bool:
    """Tell whether gevent has patched this process's sockets, as its worker does at start."""
    monkey = sys.modules.get("gevent.monkey")  # looked up, never imported: only gevent loads it
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def run_off_loop(function: Callable[..., Result], *args: Any) -> Result:
    """Return ``function(*args)``, run on a real thread while the loop serves the others.

    For CPU-bound calls that release the GIL (argon2-cffi does): on the loop's own thread they
    would stop every connection for as long as they run. gevent's pool bounds the threads.
    """
    if not running():
        return function(*args)
    import gevent

    # The outcome comes back as a value: gevent's pool would print a traceback for every
    # exception, and a wrong password is one.
    returned, outcome = gevent.get_hub().threadpool.apply(_outcome, (function, args))
    if not returned:
        raise outcome
    return outcome


def _outcome(function: Callable[..., Result], args: tuple) -> tuple[bool, Any]:
    try:
        return True, function(*args)
    except Exception as error:
        return False, error


def time_limit(seconds: float, exception: BaseException) -> AbstractContextManager[Any]:
    """Raise ``exception`` in a wait still going on ``seconds`` from now, on the loop.

    Off the loop a blocked read cannot be interrupted from the same thread: no limit then, and
    the caller checks the time when the wait ends.
    """
    if not running():
        return nullcontext()
    import gevent

    return gevent.Timeout(seconds, exception)
