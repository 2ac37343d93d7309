"""Each claim kind has a passing case, a negative control that fails, and an undecidable case."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from boundrun.claims import FAIL, INCONCLUSIVE, PASS, Above, Below, Close, Order, Rate, exit_code, loglog_slope


def frame(curves, seeds=20, noise=0.02, x="n", seed=0):
    """Tidy results: curves = {method: f(x)} on a log grid, multiplicative noise per seed."""
    rng = np.random.default_rng(seed)
    xs = np.array([10, 30, 100, 300, 1000, 3000], dtype=float)
    rows = []
    for m, f in curves.items():
        for xv in xs:
            for s in range(seeds):
                rows.append({"method": m, x: xv, "seed": s, "metric": "err",
                             "value": f(xv) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def bounds_frame(name, f, x="n"):
    xs = np.array([10, 30, 100, 300, 1000, 3000], dtype=float)
    return pd.DataFrame({"bound": name, "side": "upper", "constant": "given", x: xs, "metric": "err", "value": f(xs)})


EMPTY = pd.DataFrame(columns=["bound", "side", "constant", "n", "metric", "value"])


def test_loglog_slope_recovers_a_power_law():
    x = np.array([1.0, 10, 100])
    assert loglog_slope(x, (3 * x**0.7)[None, :])[0] == pytest.approx(0.7)


def test_rate_passes_on_the_right_exponent_and_fails_on_a_wrong_one():
    df = frame({"a": lambda n: n**-0.5})
    assert Rate("r", metric="err", exponent=-0.5, tol=0.05).evaluate(df, EMPTY, "n").status == PASS
    r = Rate("r", metric="err", exponent=-1.0, tol=0.05).evaluate(df, EMPTY, "n")
    assert r.status == FAIL
    assert r.measured == pytest.approx(-0.5, abs=0.02)


def test_rate_is_inconclusive_with_too_few_points_or_straddling_noise():
    df = frame({"a": lambda n: n**-0.5})
    few = df[df["n"] <= 30]
    assert Rate("r", metric="err", exponent=-0.5, tol=0.05).evaluate(few, EMPTY, "n").status == INCONCLUSIVE
    noisy = frame({"a": lambda n: n**-0.5}, seeds=10, noise=0.3)
    slope = Rate("r", metric="err", band=(-9, 9), fit="all").evaluate(noisy, EMPTY, "n").measured
    r = Rate("r", metric="err", band=(slope, slope + 1), fit="all").evaluate(noisy, EMPTY, "n")
    assert r.status == INCONCLUSIVE  # the measured slope sits on the band's edge: the interval straddles it


def test_rate_worst_group_decides():
    df = frame({"good": lambda n: n**-0.5, "bad": lambda n: n**-0.2})
    r = Rate("r", metric="err", exponent=-0.5, tol=0.05).evaluate(df, EMPTY, "n")
    assert r.status == FAIL and "method=bad" in r.detail and "method=good" in r.detail


def test_below_a_bound_curve_passes_and_its_negative_control_fails():
    df = frame({"a": lambda n: 1 / np.sqrt(n)})
    ok = Below("b", metric="err", bound="ub").evaluate(df, bounds_frame("ub", lambda n: 2 / np.sqrt(n)), "n")
    assert ok.status == PASS and ok.measured == pytest.approx(0.5, rel=0.05)
    bad = Below("b", metric="err", bound="ub").evaluate(df, bounds_frame("ub", lambda n: 0.5 / np.sqrt(n)), "n")
    assert bad.status == FAIL


def test_below_a_value_on_growth():
    df = frame({"a": lambda n: 1 + 0.0 * n})
    assert Below("g", metric="err", value=1.3, stat="growth").evaluate(df, EMPTY, "n").status == PASS
    grows = frame({"a": lambda n: np.log(n)})
    assert Below("g", metric="err", value=1.3, stat="growth").evaluate(grows, EMPTY, "n").status == FAIL


def test_above_passes_and_fails():
    df = frame({"a": lambda n: 0.3 + 0 * n})
    assert Above("a", metric="err", value=0.1).evaluate(df, EMPTY, "n").status == PASS
    assert Above("a", metric="err", value=0.5).evaluate(df, EMPTY, "n").status == FAIL


def test_above_with_reduce_takes_the_worst_case_over_a_column():
    df = pd.concat([frame({"a": lambda n: 0.01 + 0 * n}).assign(c=1.0),
                    frame({"a": lambda n: 0.3 + 0 * n}).assign(c=2.0)])
    assert Above("a", metric="err", value=0.1, reduce={"c": "max"}).evaluate(df, EMPTY, "n").status == PASS
    assert Above("a", metric="err", value=0.1, reduce={"c": "min"}).evaluate(df, EMPTY, "n").status == FAIL


def test_order_passes_when_better_beats_reference_and_fails_reversed():
    df = frame({"fast": lambda n: 1 / n, "slow": lambda n: 3 / n})
    assert Order("o", metric="err", better=("fast",), than="slow", factor=0.8).evaluate(df, EMPTY, "n").status == PASS
    assert Order("o", metric="err", better=("slow",), than="fast", factor=0.8).evaluate(df, EMPTY, "n").status == FAIL


def test_order_is_inconclusive_when_bands_overlap():
    df = frame({"x": lambda n: 1 / n, "y": lambda n: 1.02 / n}, seeds=4, noise=0.5)
    r = Order("o", metric="err", better=("x",), than="y", factor=1.0).evaluate(df, EMPTY, "n")
    assert r.status == INCONCLUSIVE


def test_close_absolute_and_relative():
    df = frame({"a": lambda n: 2.0 + 0 * n}, noise=0.001)
    assert Close("c", metric="err", expected=2.0, atol=0.05).evaluate(df, EMPTY, "n").status == PASS
    assert Close("c", metric="err", expected=3.0, atol=0.05).evaluate(df, EMPTY, "n").status == FAIL
    assert Close("c", metric="err", expected=2.1, rtol=0.1).evaluate(df, EMPTY, "n").status == PASS
    assert Close("c", metric="err", expected=lambda xs: 1.0, rtol=0.1).evaluate(df, EMPTY, "n").status == FAIL


def test_no_data_and_too_few_seeds_are_inconclusive():
    df = frame({"a": lambda n: n**-0.5})
    assert Rate("r", metric="other", exponent=0).evaluate(df, EMPTY, "n").status == INCONCLUSIVE
    one = frame({"a": lambda n: n**-0.5}, seeds=1)
    assert Rate("r", metric="err", exponent=-0.5).evaluate(one, EMPTY, "n").status == INCONCLUSIVE


def test_claims_are_deterministic():
    df = frame({"a": lambda n: n**-0.5}, seeds=5, noise=0.3)
    c = Rate("r", metric="err", exponent=-0.5, tol=0.2)
    assert c.evaluate(df, EMPTY, "n") == c.evaluate(df, EMPTY, "n")


def test_exit_code_ignores_report_only_claims():
    df = frame({"a": lambda n: 0.3 + 0 * n})
    gated = Above("a", metric="err", value=0.5).evaluate(df, EMPTY, "n")
    soft = dataclasses.replace(Above("a", metric="err", value=0.5), gated=False).evaluate(df, EMPTY, "n")
    assert exit_code([gated]) == 3
    assert exit_code([soft]) == 0


def test_paired_bootstrap_keeps_common_random_numbers_tight():
    # every seed is an exact power law with its own constant: the slope is exactly -0.5 for every seed, so
    # resampling seeds jointly across grid points gives a degenerate interval; independent resampling would not
    rng = np.random.default_rng(1)
    consts = np.exp(rng.standard_normal(5))
    xs = [10.0, 100.0, 1000.0]
    df = pd.DataFrame([{"method": "a", "n": x, "seed": s, "metric": "err", "value": c * x**-0.5}
                       for x in xs for s, c in enumerate(consts)])
    r = Rate("r", metric="err", exponent=-0.5, tol=0.001, fit="all").evaluate(df, EMPTY, "n")
    assert r.status == PASS


def test_below_with_resolution_fails_only_on_a_significant_excess_and_passes_only_when_precise():
    from boundrun.claims import Below

    flat = frame({"a": lambda n: 0.0 * n + 1.0}, noise=0.001)
    assert Below("b", metric="err", value=1.01, resolution=0.02).evaluate(flat, EMPTY, "n").status == PASS
    assert Below("b", metric="err", value=0.9, resolution=0.02).evaluate(flat, EMPTY, "n").status == FAIL
    noisy = frame({"a": lambda n: 0.0 * n + 1.0}, seeds=4, noise=0.5)
    noisy = noisy[noisy["n"] == 10]
    at_mean = float(noisy["value"].mean())  # the limit sits on the mean: the interval straddles it
    assert Below("b", metric="err", value=at_mean, resolution=0.001).evaluate(noisy, EMPTY, "n").status == INCONCLUSIVE


def test_close_equivalence_fails_on_any_significant_deviation():
    df = frame({"a": lambda n: 2.0 + 0 * n}, noise=0.001)
    assert Close("c", metric="err", expected=2.0, atol=0.05, equivalence=True).evaluate(df, EMPTY, "n").status == PASS
    # 2.02 is inside the tolerance, but the deviation is significant: equivalence fails, plain close passes
    assert Close("c", metric="err", expected=2.02, atol=0.05).evaluate(df, EMPTY, "n").status == PASS
    assert Close("c", metric="err", expected=2.02, atol=0.05, equivalence=True).evaluate(df, EMPTY, "n").status == FAIL


def test_lead_is_an_additive_margin_of_one_label_over_another():
    from boundrun.claims import Lead

    df = frame({"hi": lambda n: 0.5 + 0 * n, "lo": lambda n: 0.3 + 0 * n}, noise=0.001)
    assert Lead("l", metric="err", better="hi", than="lo", add=0.1).evaluate(df, EMPTY, "n").status == PASS
    assert Lead("l", metric="err", better="hi", than="lo", add=0.3).evaluate(df, EMPTY, "n").status == FAIL
    assert Lead("l", metric="err", better="hi", than="lo", add=0.0, mult=2.0).evaluate(df, EMPTY, "n").status == FAIL
    assert Lead("l", metric="err", better="hi", than="lo", x_min=1e9).evaluate(df, EMPTY, "n").status == INCONCLUSIVE


def test_over_seeds_judges_the_worst_instance_not_the_mean():
    rows = [{"method": "a", "n": x, "seed": s, "metric": "err", "value": v}
            for x in (10.0, 100.0) for s, v in enumerate([0.1, 0.2, 1.5, 0.1])]
    df = pd.DataFrame(rows)
    assert Below("b", metric="err", value=1.0).evaluate(df, EMPTY, "n").status != FAIL  # the mean is 0.475
    worst = Below("b", metric="err", value=1.0, over_seeds="max").evaluate(df, EMPTY, "n")
    assert worst.status == FAIL and worst.measured == 1.5
    assert Below("b", metric="err", value=2.0, over_seeds="max").evaluate(df, EMPTY, "n").status == PASS


def test_lead_of_the_best_of_several_labels():
    from boundrun.claims import Lead

    df = frame({"a": lambda n: 0.2 + 0 * n, "b": lambda n: 0.6 + 0 * n, "ref": lambda n: 0.4 + 0 * n}, noise=0.001)
    assert Lead("l", metric="err", better=("a", "b"), than="ref", add=0.1).evaluate(df, EMPTY, "n").status == PASS
    assert Lead("l", metric="err", better=("a",), than="ref", add=0.1).evaluate(df, EMPTY, "n").status == FAIL


def test_monotone_trend_passes_fails_and_needs_three_points():
    from boundrun.claims import Monotone

    df = frame({"a": lambda n: np.log(n)}, noise=0.01)
    assert Monotone("m", metric="err", direction="increasing").evaluate(df, EMPTY, "n").status == PASS
    assert Monotone("m", metric="err", direction="decreasing").evaluate(df, EMPTY, "n").status == FAIL
    few = df[df["n"] <= 30]
    assert Monotone("m", metric="err").evaluate(few, EMPTY, "n").status == INCONCLUSIVE
