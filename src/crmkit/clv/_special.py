"""Gauss hypergeometric series, in numpy (whole columns) and plain Python (one customer).

The two paths run the same recurrence, the same stopping rule per value and
the same order of additions, so they give the same sums (basic IEEE
arithmetic is identical in numpy and Python). The arguments are in the
region the models use: ``a, b > 0``, ``0 <= z < 1`` and (for the BG/NBD
conditional expectation) ``c > -1``; then all terms but possibly the first are
positive and the sums have no cancellation.

The stopping rule, checked after every second term: stop after term *k*
once the ratio of the next term is
below 1 in size and the tail, bounded by ``|term| * q / (1 - q)`` with ``q``
the larger of that ratio's size and its limit *z*, is below ``2**-53`` of the
sum.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "hyp2f1",
    "hyp2f1_one",
    "hyp2f1_tail",
    "hyp2f1_tail_one",
    "series_1bc",
    "series_1bc_one",
    "series_1bc_with_derivatives",
]

Array: TypeAlias = npt.NDArray[np.float64]

EPS: Final = 2.0**-53
MAX_TERMS: Final = 200_000


def _converged(term: Any, total: Any, ratio: Any, z: Any) -> Any:
    q = np.maximum(np.abs(ratio), z)
    return (q < 1.0) & (np.abs(term) * q < EPS * np.abs(total) * (1.0 - q))


def hyp2f1(a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, z: npt.ArrayLike) -> Array:
    """``2F1(a, b; c; z)`` elementwise for ``a, b, c > 0`` and ``0 <= z < 1``."""
    return 1.0 + hyp2f1_tail(a, b, c, z)


def hyp2f1_tail(a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, z: npt.ArrayLike) -> Array:
    """``2F1(a, b; c; z) - 1`` (the series without its first term, exact for small z)."""
    a, b, c, z = np.broadcast_arrays(
        np.asarray(a, float), np.asarray(b, float), np.asarray(c, float), np.asarray(z, float)
    )
    shape = a.shape
    a, b, c, z = (np.ravel(v).copy() for v in (a, b, c, z))
    total = np.zeros(a.shape)  # the sum of the terms after the first (which is 1)
    term = np.ones(a.shape)
    active = np.arange(a.size)
    k = 0.0
    while active.size and k < MAX_TERMS:  # two terms per step, then the stopping rule
        aa, bb, cc, zz = a[active], b[active], c[active], z[active]
        t = term[active] * ((aa + k) * (bb + k) / ((cc + k) * (k + 1.0)) * zz)
        s = total[active] + t
        k += 1.0
        t = t * ((aa + k) * (bb + k) / ((cc + k) * (k + 1.0)) * zz)
        s = s + t
        k += 1.0
        term[active] = t
        total[active] = s
        nxt = (aa + k) * (bb + k) / ((cc + k) * (k + 1.0)) * zz
        active = active[~_converged(t, 1.0 + s, nxt, zz)]
    return total.reshape(shape)


def hyp2f1_one(a: float, b: float, c: float, z: float) -> float:
    """``2F1(a, b; c; z)`` for one set of arguments, in plain Python (same sums as :func:`hyp2f1`)."""
    return 1.0 + hyp2f1_tail_one(a, b, c, z)


def hyp2f1_tail_one(a: float, b: float, c: float, z: float) -> float:
    """``2F1(a, b; c; z) - 1`` in plain Python (same sums as :func:`hyp2f1_tail`)."""
    total = 0.0
    term = 1.0
    k = 0.0
    while k < MAX_TERMS:  # two terms per step, then the stopping rule
        term = term * ((a + k) * (b + k) / ((c + k) * (k + 1.0)) * z)
        total = total + term
        k += 1.0
        term = term * ((a + k) * (b + k) / ((c + k) * (k + 1.0)) * z)
        total = total + term
        k += 1.0
        ratio = (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z
        q = max(abs(ratio), z)
        if q < 1.0 and abs(term) * q < EPS * abs(1.0 + total) * (1.0 - q):
            break
    return total


def series_1bc(b: npt.ArrayLike, c: npt.ArrayLike, z: npt.ArrayLike) -> Array:
    """``2F1(1, b; c; z) = sum (b)_k / (c)_k z^k`` elementwise (``b, c > 0``, ``0 <= z < 1``)."""
    return series_1bc_with_derivatives(b, c, z, derivatives=False)[0]


def series_1bc_one(b: float, c: float, z: float) -> float:
    """``2F1(1, b; c; z)`` in plain Python (same sums as :func:`series_1bc`)."""
    total = 1.0
    term = 1.0
    k = 0.0
    while k < MAX_TERMS:
        ratio = (b + k) / (c + k) * z
        term = term * ratio
        total = total + term
        k += 1.0
        nxt = (b + k) / (c + k) * z
        q = max(abs(nxt), z)
        if q < 1.0 and abs(term) * q < EPS * abs(total) * (1.0 - q):
            break
    return total


def series_1bc_with_derivatives(
    b: npt.ArrayLike, c: npt.ArrayLike, z: npt.ArrayLike, *, derivatives: bool = True
) -> tuple[Array, Array, Array, Array]:
    """``S = 2F1(1, b; c; z)`` and its partial derivatives ``dS/db``, ``dS/dc``, ``dS/dz``.

    The derivatives are the term-by-term derivatives of the series:
    ``d log t_k / db = sum_{j<k} 1/(b+j)``, ``d log t_k / dc = -sum_{j<k} 1/(c+j)``,
    ``d t_k / dz = k t_k / z``. Without *derivatives* the three are zeros.
    """
    b, c, z = np.broadcast_arrays(np.asarray(b, float), np.asarray(c, float), np.asarray(z, float))
    shape = b.shape
    b, c, z = (np.ravel(v).copy() for v in (b, c, z))
    n = b.size
    total = np.ones(n)
    term = np.ones(n)
    db = np.zeros(n)
    dc = np.zeros(n)
    dz = np.zeros(n)
    lb = np.zeros(n)  # sum_{j<k} 1/(b+j)
    lc = np.zeros(n)
    active = np.arange(n)
    k = 0.0
    while active.size and k < MAX_TERMS:
        bb, cc, zz = b[active], c[active], z[active]
        t = term[active] * ((bb + k) / (cc + k) * zz)
        s = total[active] + t
        term[active] = t
        total[active] = s
        if derivatives:
            ib = lb[active] + 1.0 / (bb + k)
            ic = lc[active] + 1.0 / (cc + k)
            lb[active] = ib
            lc[active] = ic
            db[active] += t * ib
            dc[active] -= t * ic
            dz[active] += t * (k + 1.0)
        k += 1.0
        nxt = (bb + k) / (cc + k) * zz
        active = active[~_converged(t, s, nxt, zz)]
    if derivatives:
        with np.errstate(divide="ignore", invalid="ignore"):
            dz = np.where(z > 0, dz / np.where(z > 0, z, 1.0), b / c)
    return total.reshape(shape), db.reshape(shape), dc.reshape(shape), dz.reshape(shape)
