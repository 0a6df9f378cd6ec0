"""bench/procs.py: the CPU the shared servers (PostgreSQL, Redis) spent during a run."""

from __future__ import annotations

import os

from bench.procs import cpu_between, cpu_by_name


def test_cpu_between_readings_counts_growth_and_new_processes_not_gone_ones() -> None:
    before = {10: 1.0, 11: 2.0, 12: 5.0}
    after = {10: 1.5, 11: 2.0, 13: 0.25}  # 12 exited; 13 started during the run
    assert cpu_between(before, after) == 0.75


def test_processes_are_found_by_name_with_their_cpu_so_far() -> None:
    with open(f"/proc/{os.getpid()}/comm") as comm:
        own_name = comm.read().strip()
    found = cpu_by_name(own_name)
    assert os.getpid() in found and found[os.getpid()] > 0  # this test's process has run
    assert cpu_by_name("no-such-process-name") == {}
