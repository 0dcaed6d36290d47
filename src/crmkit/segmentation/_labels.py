"""Turning rule results into labels: the multi-label tuples, without per-row Python."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = []

_MAX_BITS: Final = 62


def _label_tuples(held: npt.NDArray[np.bool_], names: tuple[str, ...]) -> npt.NDArray[Any]:
    """The tuple of labels per row, built once per distinct combination (no per-row Python)."""
    n, k = held.shape
    if k <= _MAX_BITS:
        codes = np.zeros(n, dtype=np.int64)
        for i in range(k):
            codes |= held[:, i].astype(np.int64) << i
        uniq, inverse = np.unique(codes, return_inverse=True)
        combos = [tuple(names[i] for i in range(k) if (int(u) >> i) & 1) for u in uniq]
    else:
        packed = np.packbits(held, axis=1)
        uniq_rows, inverse = np.unique(packed, axis=0, return_inverse=True)
        bits = np.unpackbits(uniq_rows, axis=1)[:, :k].astype(bool)
        combos = [tuple(names[i] for i in range(k) if row[i]) for row in bits]
    table = np.empty(len(combos), dtype=object)
    for j, combo in enumerate(combos):
        table[j] = combo
    result: npt.NDArray[Any] = table[inverse.reshape(-1)]
    return result
