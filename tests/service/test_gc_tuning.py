"""service/gc_tuning.py: the serving process's collector settings, in a fresh interpreter each
(the test process's own collector is left alone)."""

from __future__ import annotations

from tests.support.fresh_interpreter import run_fresh as run


def test_loaded_objects_are_frozen_and_the_young_generation_waits_longer() -> None:
    out = run(
        """
        import gc
        from service.gc_tuning import YOUNG_THRESHOLD, tune_for_serving
        default = gc.get_threshold()
        tune_for_serving()
        print(gc.get_freeze_count() > 10_000, gc.get_threshold() == (YOUNG_THRESHOLD, *default[1:]))
        """
    )
    assert out == "True True"


def test_garbage_in_reference_cycles_is_still_collected_on_its_own() -> None:
    # Without any explicit gc.collect(): cycles made while serving are freed once enough
    # allocations have happened, as they would be under load.
    out = run(
        """
        import gc, weakref
        from service.gc_tuning import YOUNG_THRESHOLD, tune_for_serving
        tune_for_serving()
        class Node:
            pass
        freed = []
        for i in range(50):
            a, b = Node(), Node()
            a.other, b.other = b, a
            weakref.finalize(a, freed.append, i)
            del a, b
        assert not freed  # a cycle is not freed by reference counting
        keep = [[] for _ in range(YOUNG_THRESHOLD * 3)]  # allocations, as requests make them
        print(len(freed))
        """
    )
    assert out == "50"


def test_the_wsgi_entry_point_tunes_the_collector() -> None:
    out = run(
        """
        import gc
        import wsgi
        from service.gc_tuning import YOUNG_THRESHOLD
        print(gc.get_threshold()[0] == YOUNG_THRESHOLD, gc.get_freeze_count() > 10_000)
        """
    )
    assert out == "True True"
