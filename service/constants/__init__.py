"""Plain constants, and nothing else: the only part of the service schemas/ may import.

Each module here holds names bound to literal values (numbers, strings, tuples, sets, dicts);
tests/service/test_import_graph.py checks that no function, class or import creeps in.
"""
