"""The outbox's gauge for ``/metrics``: how many mails wait to be sent, read at each scrape.

Read from the database, so every worker (and every host) tells the same number; a number that
only grows says the mail server refuses or ``MAIL_URL`` is unset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from api.services import outbox


class OutboxGauge:
    """A prometheus_client collector: ``tessera_outbox_waiting``."""

    def describe(self) -> list[Any]:
        # Nothing to describe ahead: registering must not query a database there is no app for.
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(
            "tessera_outbox_waiting",
            "Mails waiting in the outbox to be sent.",
            value=outbox.waiting_count(),
        )
