"""crmkit.clv: fitting and predicting BG/NBD and Pareto/NBD, against lifetimes in the same run.

Data: CDNOW master's calibration summary (23,570 customers, weeks, as of
1997-09-30), and a simulated CDNOW-like base of 1M customers (first purchases
spread over 12 weeks, observed for 39 weeks, purchase times at day resolution,
as ``features`` gives them), drawn from the BG/NBD or Pareto/NBD process with
numpy. lifetimes (the ``bench`` extra) is the reference where it imports; its
Pareto/NBD takes minutes per fit, so it is timed once, on a 100,000-customer
subset, against crmkit on the same subset.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import crmkit as ck
from benchmarks._util import Section, Timing, alternating, fmt_seconds, time_it, time_per_call
from crmkit.clv import BGNBD, ParetoNBD, simulate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cdnow"
BG_TRUTH = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
PARETO_TRUTH = ParetoNBD(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="W")


def _lifetimes() -> Any | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lifetimes
    except Exception:  # lifetimes may fail to import with new numpy/pandas
        return None
    return lifetimes


def _cdnow_master(quick: bool) -> pd.DataFrame | None:
    name = "CDNOW_sample.txt" if quick else "CDNOW_master.txt"
    path = DATA / name
    if not path.exists():
        return None
    if quick:
        tx = pd.read_csv(
            path, sep=r"\s+", header=None, names=["m", "customer_id", "date", "n", "amount"]
        )
    else:
        tx = pd.read_csv(path, sep=r"\s+", header=0, names=["customer_id", "date", "n", "amount"])
    tx["date"] = pd.to_datetime(tx["date"].astype(str), format="%Y%m%d")
    return ck.features(tx, as_of="1997-09-30", date="date", time_unit="W")


def _base(model: Any, n: int) -> pd.DataFrame:
    first_day = np.random.default_rng(1).integers(0, 84, n)
    return simulate(model, (273 - first_day) / 7, seed=2, resolution=1 / 7)


def _lt_args(frame: pd.DataFrame) -> tuple[Any, Any, Any]:
    return frame["repeat_purchases"], frame["repeat_span"], frame["age"]


def _quiet(fn: Any) -> Any:
    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return run


def _ratio(ours: Timing, ref: Timing | None) -> str:
    """lifetimes' median over crmkit's (above 1: crmkit is faster)."""
    return "-" if ref is None else f"{ref.median / ours.median:.1f}x"


def run(*, quick: bool = False) -> list[Section]:
    lt = _lifetimes()
    n_big = 20_000 if quick else 1_000_000
    n_pareto_ref = 5_000 if quick else 100_000
    rows: list[list[str]] = []
    notes: list[str] = []

    master = _cdnow_master(quick)
    if master is not None:
        ours = time_it(lambda: BGNBD.fit(master), repeat=7)
        ref = None
        if lt is not None:
            ref = time_it(_quiet(lambda: lt.BetaGeoFitter().fit(*_lt_args(master))), repeat=5)
        rows.append(
            [
                f"BG/NBD fit, CDNOW {'sample' if quick else 'master'} ({len(master):,} customers)",
                str(ours),
                str(ref) if ref else "-",
                _ratio(ours, ref),
                "<= 0.1 s",
            ]
        )

    bg_base = _base(BG_TRUTH, n_big)
    fitted_bg = BGNBD.fit(bg_base)
    timings = {"ours": lambda: BGNBD.fit(bg_base)}
    if lt is not None:
        timings["ref"] = _quiet(lambda: lt.BetaGeoFitter().fit(*_lt_args(bg_base)))
    got = alternating(timings, repeat=3, warmup=0)
    rows.append(
        [
            f"BG/NBD fit, simulated {n_big:,} customers ({fitted_bg.fit_info.patterns:,} patterns)"
            if fitted_bg.fit_info
            else "BG/NBD fit",
            str(got["ours"]),
            str(got.get("ref", "-")),
            _ratio(got["ours"], got.get("ref")),
            "<= 1 s",
        ]
    )

    pareto_base = _base(PARETO_TRUTH, n_big)
    first = ParetoNBD.fit(pareto_base)
    pareto = time_it(lambda: ParetoNBD.fit(pareto_base), repeat=3, warmup=0)
    deterministic = ParetoNBD.fit(pareto_base) == first
    rows.append(
        [
            f"Pareto/NBD fit, simulated {n_big:,} customers",
            str(pareto),
            "-",
            "-",
            "<= 10 s, deterministic",
        ]
    )
    notes.append(
        f"Pareto/NBD on {n_big:,}: three fits and a fourth give "
        f"{'bit-identical' if deterministic else 'DIFFERENT'} parameters; truth "
        f"{PARETO_TRUTH.params}, estimate "
        + ", ".join(f"{k} {v:.4f}" for k, v in first.params.items())
        + "."
    )
    if lt is not None:
        subset = pareto_base.iloc[:n_pareto_ref]
        ours_sub = time_it(lambda: ParetoNBD.fit(subset), repeat=3)
        lt_fit: list[Any] = []

        def lt_pareto() -> None:
            lt_fit.append(lt.ParetoNBDFitter().fit(*_lt_args(subset)))

        ref_sub = time_it(_quiet(lt_pareto), repeat=1, warmup=0)
        rows.append(
            [
                f"Pareto/NBD fit, simulated {n_pareto_ref:,} customers",
                str(ours_sub),
                str(ref_sub),
                _ratio(ours_sub, ref_sub),
                "-",
            ]
        )
        ours_model = ParetoNBD.fit(subset)
        lt_params = dict(
            zip(
                ("r", "alpha", "s", "beta"),
                lt_fit[-1]._unload_params("r", "alpha", "s", "beta"),
                strict=True,
            )
        )
        lt_ll = ParetoNBD(time_unit="W", **lt_params).log_likelihood(subset)
        if ours_model.fit_info is not None:
            notes.append(
                f"On that subset, crmkit's log-likelihood is {ours_model.fit_info.log_likelihood:.3f} "
                f"and lifetimes' optimum scores {lt_ll:.3f} on the same likelihood (difference "
                f"{ours_model.fit_info.log_likelihood - lt_ll:.3g})."
            )

    predict = time_it(lambda: fitted_bg.predict(bg_base, horizon=39), repeat=5)
    ref_pred = None
    if lt is not None:
        lt_bg = _quiet(lambda: lt.BetaGeoFitter().fit(*_lt_args(bg_base.iloc[:20_000])))()

        def lt_predict() -> None:
            x, t_x, T = (c.to_numpy() for c in _lt_args(bg_base))  # noqa: N806
            lt_bg.conditional_probability_alive(x, t_x, T)
            lt_bg.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T)

        ref_pred = time_it(_quiet(lt_predict), repeat=3)
    rows.append(
        [
            f"BG/NBD predict, {n_big:,} customers (p_alive, p_any_purchase, expected_purchases)",
            str(predict),
            str(ref_pred) if ref_pred else "-",
            _ratio(predict, ref_pred),
            "<= 0.5 s",
        ]
    )
    pareto_predict = time_it(lambda: first.predict(pareto_base, horizon=39), repeat=5)
    rows.append(
        [
            f"Pareto/NBD predict, {n_big:,} customers",
            str(pareto_predict),
            "-",
            "-",
            "<= 0.5 s",
        ]
    )

    customer = {"repeat_purchases": 2, "repeat_span": 30.43, "age": 38.86}
    number = 2_000 if quick else 20_000
    one = time_per_call(lambda: BG_TRUTH.predict_one(customer, horizon=39), number=number)
    ref_one = None
    if lt is not None:
        lt_one = lt.BetaGeoFitter()
        lt_one.params_ = pd.Series(BG_TRUTH.params)

        def lt_scalar() -> None:
            lt_one.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
            lt_one.conditional_probability_alive(2, 30.43, 38.86)

        ref_one = time_per_call(_quiet(lt_scalar), number=number // 10)
    rows.append(
        [
            "BG/NBD `predict_one` (all three numbers)",
            str(one),
            str(ref_one) if ref_one else "-",
            _ratio(one, ref_one),
            "<= 10 µs",
        ]
    )
    one_p = time_per_call(lambda: PARETO_TRUTH.predict_one(customer, horizon=39), number=number)
    rows.append(["Pareto/NBD `predict_one`", str(one_p), "-", "-", "<= 10 µs"])

    notes.insert(
        0,
        "lifetimes "
        + (
            f"{lt.__version__}"
            if lt is not None and hasattr(lt, "__version__")
            else "not importable"
        )
        + f"; its predictions are timed with a BG/NBD fitted on 20,000 customers (fit not timed). "
        f"Medians: CDNOW fits of 7 runs, simulated fits of 3, predictions of 5, `predict_one` of 7 "
        f"loops of {number:,} calls; {fmt_seconds(0)} means below the clock's resolution.",
    )
    return [
        Section(
            title="Customer-base models (crmkit.clv)",
            header=["operation", "crmkit (median)", "lifetimes", "lifetimes / crmkit", "target"],
            rows=rows,
            notes=notes,
        )
    ]
