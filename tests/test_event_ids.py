"""Event ids: unique and increasing within a process, even when the clock misbehaves."""

from __future__ import annotations

from tracer.events import EventIds, id_time


def test_ids_increase_and_carry_their_time() -> None:
    ids = EventIds()
    made = [ids.next(1_700_000_000.0 + n / 10_000) for n in range(20_000)]

    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert abs(id_time(made[0]) - 1_700_000_000.0) < 0.001


def test_a_clock_stepping_back_never_repeats_an_id() -> None:
    ids = EventIds()
    before = [ids.next(1_700_000_010.0) for _ in range(10)]
    after = [ids.next(1_700_000_000.0) for _ in range(10)]  # ten seconds back

    assert before + after == sorted(before + after)
    assert len(set(before + after)) == 20


def test_more_than_4096_ids_in_one_millisecond_stay_unique_and_ordered() -> None:
    ids = EventIds()
    made = [ids.next(1_700_000_000.0) for _ in range(10_000)]

    assert made == sorted(made) and len(set(made)) == 10_000


def test_two_generators_do_not_collide() -> None:
    a, b = EventIds(), EventIds()

    assert {a.next(5.0) for _ in range(1000)}.isdisjoint({b.next(5.0) for _ in range(1000)})
