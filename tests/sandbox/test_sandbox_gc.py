"""sandbox/server.py: keep_collections_short, in a fresh interpreter each (the test process's own
collector is left alone)."""

from __future__ import annotations

from tests.support.fresh_interpreter import run_fresh as run


def test_what_a_full_collection_leaves_alive_is_not_walked_again() -> None:
    out = run(
        """
        import gc
        from sandbox.server import keep_collections_short
        keep_collections_short()
        frozen = gc.get_freeze_count()
        kept = [{"id": i, "items": [{"n": i}]} for i in range(50_000)]  # what the sandbox stores
        gc.collect(2)
        # The stored objects are frozen now: the next full collection does not walk them.
        print(gc.get_freeze_count() - frozen >= 100_000, len(gc.get_objects(2)) < 50_000)
        """
    )
    assert out == "True True"


def test_garbage_in_reference_cycles_made_later_is_still_collected() -> None:
    out = run(
        """
        import gc, weakref
        from sandbox.server import keep_collections_short
        keep_collections_short()

        class Node:
            pass

        node = Node()
        node.self = node  # a cycle: reference counting alone never frees it
        alive = weakref.ref(node)
        del node
        gc.collect()
        print(alive() is None)
        """
    )
    assert out == "True"
