"""The in-process report: medians, ratios to the plain Flask route, and the targets met or missed.

Every ratio divides two medians of the same run. ``flask`` is the floor: the same JSON from a
Flask app with nothing else. ``bare`` is that route inside Tessera, under all its hooks.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from .in_process import MAIL_SERVER, MAIL_SERVER_DELAY

# (case, the most it may cost as a multiple of the plain Flask route, its exact queries).
FLOOR_TARGETS = {
    "bare": (1.2, 0),
    "me_valid": (3.5, 1),
    "me_pat": (3.5, 1),  # once personal access tokens exist
    "me_forged": (2.0, 0),
    "me_expired": (2.0, 0),
    "me_unknown_key": (2.0, 0),
    "me_no_header": (2.0, 0),
}
# Statements the other busy paths may send (their times are held flat, below).
QUERY_LIMITS = {
    "me_revoked": 1,
    "notes_10000": 3,
    "me_valid_1m_users": 1,
    # The passkey's compare-and-swap, then the login's writes: network, event, user, session.
    "passkey_login": 5,
    # The bearer lookup, and the proof's replay record (none more when Redis keeps it).
    "me_dpop": 2,
}
# How many times faster than the Flask-JWT-Extended peer's GET /me.
PEER_SPEEDUP = 3.0


def summarise(samples: dict[str, list[float]], query_counts: dict[str, int]) -> dict[str, dict]:
    floor = statistics.median(samples["flask"])
    floor_min = min(samples["flask"])
    bare = statistics.median(samples["bare"])
    summary = {}
    for name, values in samples.items():
        median = statistics.median(values)
        summary[name] = {
            "median_us": median * 1e6,
            "min_us": min(values) * 1e6,
            "max_us": max(values) * 1e6,
            "ratio_to_flask": median / floor,
            # The same ratio from the fastest rounds: what the case costs with the machine
            # to itself, when other work slows some rounds down.
            "min_ratio_to_flask": min(values) / floor_min,
            "ratio_to_bare": median / bare,
            "queries": query_counts.get(name),
            "rounds": len(values),
        }
    return summary


def inserts_into(transaction: list[str], table: str) -> int:
    return sum(statement.startswith(f"INSERT INTO {table} ") for statement in transaction)


def check_targets(
    summary: dict[str, dict],
    unavailable: dict[str, str] | None = None,
    transactions: dict[str, list[list[str]]] | None = None,
) -> list[dict[str, Any]]:
    """Compare the medians with the issue's targets; a case that could not run misses its own.

    ``transactions`` holds each case's statements, by transaction, from one request.
    """
    results = []

    def add(target: str, value: float | None, limit: float, ok: bool, note: str = "") -> None:
        shown = None if value is None else round(value, 3)
        row = {"target": target, "value": shown, "limit": limit, "met": ok}
        if note:
            row["note"] = note
        results.append(row)

    def floor_ratio(name: str, limit: float, queries: int, against: str) -> None:
        key = "ratio_to_flask" if against == "flask" else "ratio_to_bare"
        target = f"{name} <= {limit}x {against}, {queries} queries"
        if name not in summary:
            if name in (unavailable or {}):
                add(target, None, limit, False, f"not measured: {unavailable[name]}")
            return  # a case that does not exist yet (me_pat before PATs)
        row = summary[name]
        add(target, row[key], limit, row[key] <= limit and row["queries"] == queries)

    for name, (limit, queries) in FLOOR_TARGETS.items():
        floor_ratio(name, limit, queries, "flask")
    for name in ("me_valid", "me_pat"):
        if name in summary:
            speedup = summary["peer_me"]["median_us"] / summary[name]["median_us"]
            add(
                f"{name} >= {PEER_SPEEDUP}x faster than the Flask-JWT-Extended peer's /me",
                speedup,
                PEER_SPEEDUP,
                speedup >= PEER_SPEEDUP,
            )
    for name, limit in QUERY_LIMITS.items():
        queries = summary[name]["queries"]
        add(f"{name} sends at most {limit} queries", queries, limit, queries <= limit)
    notes = summary["notes_10000"]["median_us"] / summary["notes_10"]["median_us"]
    add("notes_10000 within 1.5x of notes_10", notes, 1.5, notes <= 1.5)
    large = summary["me_valid_1m_users"]["median_us"] / summary["me_valid"]["median_us"]
    same_queries = summary["me_valid_1m_users"]["queries"] == summary["me_valid"]["queries"]
    add(
        "me_valid with 1,000,000 users within 1.2x of 1,000",
        large,
        1.2,
        large <= 1.2 and same_queries,
    )
    login = summary["login"]["median_us"] / summary["password_verify"]["median_us"]
    add("login <= 1.2x one password verification", login, 1.2, login <= 1.2)
    passkey = summary["passkey_login"]["median_us"] / summary["login"]["median_us"]
    add("passkey_login costs less than a password login", passkey, 1.0, passkey < 1.0)
    # The audit trail: as long as it grows, a login and a user's page of it cost the same.
    for name, baseline, target in (
        ("audit_user_1m", "audit_user_1k", "GET /audit?user_id= with 1,000,000 events"),
        ("login_1m_events", "login", "login with 1,000,000 events"),
    ):
        ratio = summary[name]["median_us"] / summary[baseline]["median_us"]
        same = summary[name]["queries"] == summary[baseline]["queries"]
        add(
            f"{target} within 1.2x of 1,000, same statements ({name} / {baseline})",
            ratio,
            1.2,
            ratio <= 1.2 and same,
        )
    transactions = transactions or {}
    written = [
        t
        for t in transactions.get("login", [])
        if inserts_into(t, "login_sessions") or inserts_into(t, "audit_events")
    ]
    together = len(written) == 1 and all(
        inserts_into(written[0], table) == 1 for table in ("login_sessions", "audit_events")
    )
    add(
        "login writes its session and its event in one transaction (transactions that do)",
        len(written),
        1,
        together,
    )
    me_inserts = sum(
        statement.startswith("INSERT ") for t in transactions.get("me_valid", []) for statement in t
    )
    add("me_writes_no_event: GET /me sends no INSERT", me_inserts, 0, me_inserts == 0)
    failed = [
        summary[n]["median_us"]
        for n in ("login_unknown_user", "login_wrong_password", "login_deactivated")
    ]
    spread = max(failed) / min(failed)
    add("failed-login medians within 10 % of each other", spread, 1.1, spread <= 1.1)
    _mail_targets(summary, unavailable or {}, add)
    return results


def _mail_targets(
    summary: dict[str, dict], unavailable: dict[str, str], add: Callable[..., None]
) -> None:
    """The mail endpoints: a forgotten password costs the same whether or not an account has
    the address, no request waits on the mail server, and a sign-up hashes once."""
    known, unknown = summary["forgot_known"], summary["forgot_unknown"]
    medians = [known["median_us"], unknown["median_us"]]
    spread = max(medians) / min(medians)
    same = known["queries"] == unknown["queries"]
    add(
        "forgot_known and forgot_unknown medians within 10 % of each other, same statements",
        spread,
        1.1,
        spread <= 1.1 and same,
    )
    # Beside a mail server that takes MAIL_SERVER_DELAY over each mail the app's sender thread
    # delivers to it (a phase of its own, after the rounds).
    delay_ms = MAIL_SERVER_DELAY * 1e3
    known_ms = summary["forgot_slow_mail"]["median_us"] / 1e3
    delivered = MAIL_SERVER not in unavailable
    add(
        f"forgot_slow_mail answers (ms) before the mail server takes its mail ({delay_ms:.0f} ms)",
        known_ms,
        delay_ms,
        known_ms < delay_ms and delivered,
        "" if delivered else unavailable[MAIL_SERVER],
    )
    # A sign-up hashes its password once and verifies nothing (counted on one request).
    argon2 = sum(summary["signup_open"]["argon2"].values())
    add("signup_open makes one Argon2 hash at most", argon2, 1, argon2 <= 1)


def print_table(title: str, summary: dict[str, dict]) -> None:
    print(f"\n{title}")
    print(
        f"{'case':<22} {'median µs':>10} {'min µs':>9} {'max µs':>9} {'x flask':>7} "
        f"{'x (min)':>7} {'x bare':>7} {'queries':>7}"
    )
    for name, row in summary.items():
        queries = "-" if row["queries"] is None else str(row["queries"])
        print(
            f"{name:<22} {row['median_us']:>10.1f} {row['min_us']:>9.1f} {row['max_us']:>9.1f}"
            f" {row['ratio_to_flask']:>7.2f} {row['min_ratio_to_flask']:>7.2f}"
            f" {row['ratio_to_bare']:>7.2f} {queries:>7}"
        )


def print_targets(results: list[dict[str, Any]]) -> None:
    print("\ntargets")
    for row in results:
        mark = "met   " if row["met"] else "MISSED"
        note = f" [{row['note']}]" if "note" in row else ""
        print(f"  {mark} {row['target']}: {row['value']} (limit {row['limit']}){note}")
