"""What the one-process profilers share: CPU per request and the py-spy summary and CLI."""

from __future__ import annotations

import argparse
import logging
import os
import resource
from collections import Counter
from collections.abc import Callable, Iterable


def cpu_ms(before: resource.struct_rusage, n: int) -> tuple[float, float]:
    """User and system CPU milliseconds per request since ``before``."""
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime - before.ru_utime) * 1000 / n, (after.ru_stime - before.ru_stime) * 1000 / n


def quiet_logs() -> None:
    """Send the app's JSON log lines to /dev/null: still formatted (that cost counts), not printed."""
    devnull = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    for handler in logging.getLogger().handlers:
        if hasattr(handler, "stream"):
            handler.stream = devnull  # type: ignore[attr-defined]


def summarise(path: str, watch: Iterable[str], keep: Callable[[str], bool]) -> int:
    """Print the share of kept py-spy ``--format raw`` samples under each watched frame."""
    shares: Counter[str] = Counter()
    total = 0
    with open(path) as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            if not count.isdigit() or not keep(stack):
                continue
            total += int(count)
            for name in {w for w in watch if w in stack}:
                shares[name] += int(count)
    for name in watch:
        print(f"{shares[name] * 100 / max(1, total):5.1f} %  {name.split(' (')[0]} ({name.split(' (')[1]})")
    return total


def main(
    doc: str, count: str, default: int, measure: Callable[[str, int], None], summary: Callable[[str], None]
) -> None:
    """``--db``, ``--<count> N`` and ``--summarise FILE``, as every profiler here takes them."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="postgresql", choices=("sqlite", "postgresql"))
    parser.add_argument(f"--{count}", dest="count", type=int, default=default)
    parser.add_argument("--summarise", metavar="PY_SPY_RAW_FILE")
    args = parser.parse_args()
    if args.summarise:
        summary(args.summarise)
    else:
        measure(args.db, args.count)
