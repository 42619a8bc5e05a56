"""The metric functions against values computed by hand (see the comments), including n = 0
and n = 1, where a naive implementation divides by zero or reports a false certainty."""

from __future__ import annotations

import math

import pytest

from npscsat.metrics import (
    DEFAULT_MIN_SAMPLE,
    Totals,
    change,
    csat_pct,
    is_low_sample,
    mean,
    nps,
    nps_margin,
    wilson_interval,
)


def test_nps_is_promoter_share_minus_detractor_share():
    # 5 promoters, 3 passives, 2 detractors: 100 * (5 - 2) / 10 = 30
    assert nps(5, 2, 10) == pytest.approx(30.0)
    # all detractors and all promoters are the ends of the scale
    assert nps(0, 7, 7) == pytest.approx(-100.0)
    assert nps(7, 0, 7) == pytest.approx(100.0)
    # as many promoters as detractors: 0 whatever the passives
    assert nps(3, 3, 50) == pytest.approx(0.0)


def test_nps_margin_matches_the_brief_formula():
    # p = 0.5, d = 0.2: variance = p + d - (p - d)^2 = 0.7 - 0.09 = 0.61
    # margin = 1.96 * 100 * sqrt(0.61 / 10) = 196 * 0.2469818 = 48.40843
    assert nps_margin(5, 2, 10) == pytest.approx(48.40843, abs=1e-4)
    # p = 0.4, d = 0.4 (n = 100): variance = 0.8 - 0 = 0.8
    # margin = 196 * sqrt(0.008) = 196 * 0.0894427 = 17.53077
    assert nps_margin(40, 40, 100) == pytest.approx(17.53077, abs=1e-4)


def test_nps_margin_shrinks_with_the_square_root_of_n():
    small, large = nps_margin(50, 20, 100), nps_margin(200, 80, 400)
    assert large == pytest.approx(small / 2)


@pytest.mark.parametrize(
    ("promoters", "detractors", "expected_nps"),
    [(1, 0, 100.0), (0, 1, -100.0), (0, 0, 0.0)],  # one promoter / detractor / passive
)
def test_one_response_gives_an_extreme_score_with_zero_estimated_variance(
    promoters, detractors, expected_nps
):
    assert nps(promoters, detractors, 1) == pytest.approx(expected_nps)
    # p + d - (p - d)^2 is 1 - 1 or 0 - 0: the formula's margin is 0, which is why periods
    # this small are flagged as low-sample rather than trusted.
    assert nps_margin(promoters, detractors, 1) == pytest.approx(0.0)
    assert is_low_sample(1)


def test_nothing_to_measure_gives_none_not_zero():
    assert nps(0, 0, 0) is None
    assert nps_margin(0, 0, 0) is None
    assert csat_pct(0, 0) is None
    assert mean(0, 0) is None
    assert wilson_interval(0, 0) is None


def test_wilson_interval_against_hand_computed_bounds():
    # 8 of 10: z^2 = 3.8416, denominator = 1 + 0.38416 = 1.38416
    # centre = (0.8 + 0.19208) / 1.38416 = 0.716738
    # half = 1.96 * sqrt(0.016 + 0.009604) / 1.38416 = 0.226581 -> (0.490157, 0.943319)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490157, abs=1e-5)
    assert high == pytest.approx(0.943319, abs=1e-5)


def test_wilson_interval_at_n_1_stays_inside_0_1_and_is_wide():
    # 0 of 1: centre = half = 1.9208 / 4.8416 = 0.396728 -> (0, 0.793457)
    low, high = wilson_interval(0, 1)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(0.793457, abs=1e-5)
    # 1 of 1 mirrors it: (0.206543, 1)
    low, high = wilson_interval(1, 1)
    assert low == pytest.approx(0.206543, abs=1e-5)
    assert high == pytest.approx(1.0)


def test_wilson_interval_contains_the_observed_share():
    for successes, n in [(0, 5), (3, 7), (29, 30), (500, 1000)]:
        low, high = wilson_interval(successes, n)
        assert 0.0 <= low <= successes / n <= high <= 1.0


def test_csat_is_the_share_scoring_4_or_5_and_means_divide_by_answers():
    assert csat_pct(3, 4) == pytest.approx(75.0)
    assert csat_pct(1, 1) == pytest.approx(100.0)
    assert mean(17, 4) == pytest.approx(4.25)  # e.g. 5 + 5 + 4 + 3
    assert mean(7, 1) == pytest.approx(7.0)


def test_change_is_the_difference_and_needs_both_periods():
    assert change(42.5, 38.0) == pytest.approx(4.5)
    assert change(-10.0, 5.0) == pytest.approx(-15.0)
    assert change(None, 5.0) is None
    assert change(5.0, None) is None


def test_low_sample_threshold_is_exclusive_and_configurable():
    assert DEFAULT_MIN_SAMPLE == 30
    assert is_low_sample(29) and not is_low_sample(30)
    assert is_low_sample(9, min_sample=10) and not is_low_sample(10, min_sample=10)


def test_totals_derive_every_metric_from_counts():
    # 10 answers: scores 10, 10, 9, 9, 9 (promoters), 8, 7 (passives), 6, 3, 0 (detractors)
    # nps_sum = 71; CSAT answered by 8: 5, 5, 4, 4, 3, 2, 1, 5 -> sum 29, satisfied 5
    totals = Totals(
        responses=10,
        promoters=5,
        passives=2,
        detractors=3,
        nps_sum=71,
        csat_count=8,
        csat_sum=29,
        csat_satisfied=5,
        sentiment_positive=4,
        sentiment_negative=3,
    )
    assert totals.nps == pytest.approx(20.0)
    assert totals.mean_nps == pytest.approx(7.1)
    assert totals.csat_pct == pytest.approx(62.5)
    assert totals.mean_csat == pytest.approx(3.625)
    low, high = totals.csat_interval
    assert (low, high) == pytest.approx(tuple(100 * b for b in wilson_interval(5, 8)))
    # p = 0.5, d = 0.3: 196 * sqrt((0.8 - 0.04) / 10) = 196 * 0.2756810 = 54.03347
    assert totals.nps_margin == pytest.approx(54.03347, abs=1e-4)
    assert totals.sentiment_unclassified == 3


def test_totals_add_up_and_treat_null_sums_as_zero():
    empty = Totals.from_mapping({f: None for f in Totals.__dataclass_fields__})
    assert empty == Totals()
    assert empty.nps is None and empty.csat_interval is None
    one = Totals(responses=1, promoters=1, nps_sum=10, csat_count=1, csat_sum=5, csat_satisfied=1)
    both = one + Totals(responses=1, detractors=1, nps_sum=2)
    assert both.responses == 2 and both.nps == pytest.approx(0.0)
    assert both.mean_nps == pytest.approx(6.0)
    assert math.isclose(both.csat_pct, 100.0)
