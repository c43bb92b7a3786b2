"""BrandStats: the figures `tracer stats` prints, computed from rollup totals."""

from __future__ import annotations

from tracer.store import BrandStats, TypeStats


def stats(**types: TypeStats) -> BrandStats:
    return BrandStats(brand="northjobs", types=types)


def test_mpp_adjusted_opens_without_sent_events_are_the_human_unique_opens() -> None:
    assert stats(open=TypeStats(unique_human=7, unique_mpp=5)).mpp_adjusted_opens == 7.0


def test_mpp_adjusted_opens_cap_the_open_rate_at_one() -> None:
    # 3 messages sent, 2 fetched by MPP, 4 human unique opens (more than the 1 other).
    figures = stats(sent=TypeStats(all=3), open=TypeStats(unique_human=4, unique_mpp=2))
    assert figures.mpp_adjusted_opens == 6.0


def test_json_keeps_all_and_human_for_every_event_type_even_without_events() -> None:
    document = stats().to_json_dict()
    assert list(document) == ["sent", "open", "click", "unsubscribe_view", "unsubscribe",
                              "conversion", "revoked_click"]  # fmt: skip
    assert all(entry["all"] == 0 and entry["human"] == 0 for entry in document.values())
