import numpy as np
import pandas as pd
import pytest

from boundrun.results import SchemaError, summarize, tidy_bounds, tidy_results


def good():
    return pd.DataFrame({"method": ["a", "a"], "n": [1, 2], "seed": [0, 0], "metric": ["m", "m"],
                         "value": [1.0, 2.0]}).rename(columns={"n": "N"}).assign(n=[1, 2])


def test_tidy_results_adds_experiment_and_orders_columns():
    df = tidy_results(good().drop(columns="n"), "exp", "N", ())
    assert list(df.columns) == ["experiment", "method", "N", "seed", "metric", "value"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_schema_rejects_non_finite_values(bad):
    df = good()
    df.loc[1, "value"] = bad
    with pytest.raises(SchemaError, match="non-finite"):
        tidy_results(df.drop(columns="n"), "exp", "N", ())


def test_schema_rejects_missing_columns():
    with pytest.raises(SchemaError, match="missing column"):
        tidy_results(good().drop(columns=["seed", "n"]), "exp", "N", ())
    with pytest.raises(SchemaError, match="missing column"):
        tidy_results(good().drop(columns="n"), "exp", "N", ("setting",))


def test_bounds_schema_checks_side_and_constant():
    b = pd.DataFrame({"bound": ["u"], "side": ["upper"], "constant": ["given"], "n": [1], "metric": ["m"],
                      "value": [1.0]})
    assert list(tidy_bounds(b, "e", "n", ())["experiment"]) == ["e"]
    with pytest.raises(SchemaError, match="side"):
        tidy_bounds(b.assign(side="above"), "e", "n", ())
    with pytest.raises(SchemaError, match="constant"):
        tidy_bounds(b.assign(constant="guessed"), "e", "n", ())
    with pytest.raises(SchemaError, match="non-finite"):
        tidy_bounds(b.assign(value=np.nan), "e", "n", ())


def test_summary_has_mean_and_95_percent_t_interval():
    df = tidy_results(pd.DataFrame({"method": "a", "T": 1, "seed": range(4), "metric": "m",
                                    "value": [1.0, 2.0, 3.0, 4.0]}), "e", "T", ())
    s = summarize(df).iloc[0]
    assert s["n"] == 4 and s["mean"] == 2.5
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2
    assert s["ci_high"] == pytest.approx(2.5 + half) and s["ci_low"] == pytest.approx(2.5 - half)


def test_schema_rejects_grid_columns_named_like_summary_columns():
    with pytest.raises(SchemaError, match="reserved"):
        tidy_results(good(), "exp", "n", ())
