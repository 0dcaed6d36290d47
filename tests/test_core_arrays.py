"""crmkit.core.distinct: np.unique's answer, by sorting."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from crmkit.core import distinct


@given(
    hnp.arrays(
        st.sampled_from([np.int64, np.float64, np.int8, "datetime64[ns]"]),
        hnp.array_shapes(max_dims=1, min_side=0, max_side=60),
    )
)
def test_distinct_equals_np_unique(a: np.ndarray) -> None:
    np.testing.assert_array_equal(distinct(a), np.unique(a))


@given(st.lists(st.one_of(st.floats(allow_nan=True), st.just(float("nan"))), max_size=40))
def test_distinct_keeps_one_nan_as_np_unique(values: list[float]) -> None:
    a = np.array(values, dtype=np.float64)
    np.testing.assert_array_equal(distinct(a), np.unique(a))
