"""bench/alternate.py: the median of per-round ratios it reports (bench/README.md quotes them)."""

from __future__ import annotations

from bench.alternate import SCENARIOS, ratios

BASE, API = SCENARIOS[0][0], SCENARIOS[1][0]


def measured(
    base: tuple[float, float, float], api: tuple[float, float, float]
) -> dict[str, dict[str, float]]:
    keys = ("rps", "cpu_ms_per_request", "p99_ms")
    return {BASE: dict(zip(keys, base, strict=True)), API: dict(zip(keys, api, strict=True))}


def test_each_ratio_is_the_api_over_the_same_rounds_baseline_and_the_median_is_taken() -> None:
    rounds = [
        measured((400, 2.0, 800), (440, 2.2, 400)),  # 1.1, 1.1, 0.5
        measured((500, 2.5, 1000), (400, 2.5, 1200)),  # 0.8, 1.0, 1.2
        measured((450, 2.0, 900), (450, 3.0, 900)),  # 1.0, 1.5, 1.0
    ]
    assert ratios(rounds) == {"throughput": 1.0, "cpu": 1.1, "p99": 1.0}
    # Per round, not the ratio of the runs' sums: a slow minute for both cancels out.
    assert ratios(rounds[:1]) == {"throughput": 1.1, "cpu": 1.1, "p99": 0.5}


def test_the_form_pair_divides_the_forms_figures_by_the_apis() -> None:
    from bench.alternate import PAIRS

    api, form = PAIRS["form"][0][0], PAIRS["form"][1][0]
    keys = ("rps", "cpu_ms_per_request", "p99_ms")
    rounds = [
        {
            api: dict(zip(keys, (400, 2.0, 800), strict=True)),
            form: dict(zip(keys, (360, 2.4, 880), strict=True)),
        }
    ]
    assert ratios(rounds, PAIRS["form"]) == {"throughput": 0.9, "cpu": 1.2, "p99": 1.1}
    assert dict(PAIRS["form"][1][3]) == {"MONTHLY_OFFER": "off"}  # one request a donation, as the API's
