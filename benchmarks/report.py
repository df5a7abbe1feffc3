"""The in-process report: medians and ratios to the bare route, and the targets met or missed."""

from __future__ import annotations

import statistics
from typing import Any

# (case, target ratio to the bare route, most queries); the tests pin the exact counts.
TARGETS = {
    "me_valid": (4.0, 1),
    "me_forged": (2.0, 0),
    "me_expired": (2.0, 0),
    "me_unknown_key": (2.0, 0),
    "me_no_header": (2.0, 0),
    "me_revoked": (4.0, 1),
    "notes_10000": (6.0, 3),
}


def summarise(samples: dict[str, list[float]], query_counts: dict[str, int]) -> dict[str, dict]:
    bare = statistics.median(samples["bare"])
    bare_min = min(samples["bare"])
    summary = {}
    for name, values in samples.items():
        median = statistics.median(values)
        summary[name] = {
            "median_us": median * 1e6,
            "min_us": min(values) * 1e6,
            "max_us": max(values) * 1e6,
            "ratio_to_bare": median / bare,
            # The same ratio from the fastest rounds: what the case costs with the machine
            # to itself, when other work slows some rounds down.
            "min_ratio_to_bare": min(values) / bare_min,
            "queries": query_counts.get(name),
            "rounds": len(values),
        }
    return summary


def check_targets(summary: dict[str, dict]) -> list[dict[str, Any]]:
    """Compare the medians with the issue's targets."""
    results = []

    def add(target: str, value: float, limit: float, queries_ok: bool = True) -> None:
        met = value <= limit and queries_ok
        results.append({"target": target, "value": round(value, 3), "limit": limit, "met": met})

    for name, (limit, queries) in TARGETS.items():
        row = summary[name]
        add(
            f"{name} <= {limit}x bare, at most {queries} queries",
            row["ratio_to_bare"],
            limit,
            row["queries"] <= queries,
        )
    notes = summary["notes_10000"]["median_us"] / summary["notes_10"]["median_us"]
    add("notes_10000 within 1.5x of notes_10", notes, 1.5)
    login = summary["login"]["median_us"] / summary["password_verify"]["median_us"]
    add("login <= 1.2x one password verification", login, 1.2)
    failed = [
        summary[n]["median_us"]
        for n in ("login_unknown_user", "login_wrong_password", "login_deactivated")
    ]
    add("failed-login medians within 10 % of each other", max(failed) / min(failed), 1.1)
    large = summary["me_valid_1m_users"]["median_us"] / summary["me_valid"]["median_us"]
    add(
        "me_valid with 1,000,000 users within 1.2x of 1,000",
        large,
        1.2,
        summary["me_valid_1m_users"]["queries"] == summary["me_valid"]["queries"],
    )
    return results


def print_table(title: str, summary: dict[str, dict]) -> None:
    print(f"\n{title}")
    print(
        f"{'case':<22} {'median µs':>10} {'min µs':>9} {'max µs':>9} {'x bare':>7} "
        f"{'x (min)':>7} {'queries':>7}"
    )
    for name, row in summary.items():
        queries = "-" if row["queries"] is None else str(row["queries"])
        print(
            f"{name:<22} {row['median_us']:>10.1f} {row['min_us']:>9.1f} {row['max_us']:>9.1f}"
            f" {row['ratio_to_bare']:>7.2f} {row['min_ratio_to_bare']:>7.2f} {queries:>7}"
        )


def print_targets(results: list[dict[str, Any]]) -> None:
    print("\ntargets")
    for row in results:
        mark = "met   " if row["met"] else "MISSED"
        print(f"  {mark} {row['target']}: {row['value']} (limit {row['limit']})")
