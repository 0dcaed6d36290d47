"""Duplicate detection: known duplicates are found, blocks are capped, clusters are components."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.errors import MissingColumnError, ValidationError
from crmkit.quality import find_duplicates, synthetic_customers
from crmkit.testing import strategies as cks


def _precision_recall(
    frame: pd.DataFrame, person: np.ndarray, pairs: pd.DataFrame
) -> tuple[float, float]:
    position = {cid: i for i, cid in enumerate(frame["customer_id"])}
    matched = pairs[pairs["match"]]
    left = np.array([position[c] for c in matched["left"]], dtype=np.int64)
    right = np.array([position[c] for c in matched["right"]], dtype=np.int64)
    hits = int((person[left] == person[right]).sum())
    true_pairs = sum(c * (c - 1) // 2 for c in Counter(person.tolist()).values())
    return hits / max(len(matched), 1), hits / max(true_pairs, 1)


def test_known_duplicates_are_found_with_high_precision_and_recall() -> None:
    frame, person = synthetic_customers(5_000, duplicate_share=0.15, seed=3)
    found = find_duplicates(frame, company="company", birth_date="birth_date")
    precision, recall = _precision_recall(frame, person, found.pairs)
    assert precision >= 0.99
    assert recall >= 0.95
    # Every group holds one person only, nearly always.
    position = {cid: i for i, cid in enumerate(frame["customer_id"])}
    groups = found.groups()
    pure = sum(len({person[position[c]] for c in g}) == 1 for g in groups)
    assert pure >= 0.99 * len(groups)


def test_evidence_columns_and_scores() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "name": ["Ann Lee", "ANN LEE", "Bo Chen", "Cy Wu", "Cy Wu"],
            "email": ["x@example.com", "X@Example.com ", "x@example.com", None, None],
            "phone": [None, None, None, "+4930901820", "+49 30 901820"],
            "born": pd.to_datetime([None, None, None, "1980-01-01", "1981-01-01"]),
        }
    )
    found = find_duplicates(frame, birth_date="born")
    pairs = found.pairs.set_index(["left", "right"])
    assert pairs.loc[("a", "b"), "score"] == 1.0
    assert pairs.loc[("a", "b"), "email"] == 1.0
    assert np.isnan(pairs.loc[("a", "b"), "phone"])
    # Same email, different person: low name similarity keeps the score under the threshold.
    assert not pairs.loc[("a", "c"), "match"]
    assert 0 < pairs.loc[("a", "c"), "score"] < 0.8
    # Same phone and name, but a different birth date: strong evidence against.
    assert pairs.loc[("d", "e"), "birth_date"] == 0.0
    assert pairs.loc[("d", "e"), "phone"] == 1.0
    assert pairs.loc[("d", "e"), "score"] == pytest.approx(5 / 7)
    assert found.groups() == [("a", "b")]
    assert list(found.pairs["score"]) == sorted(found.pairs["score"], reverse=True)
    assert "Ann" not in repr(found)


def test_blocks_over_the_cap_are_skipped_and_reported() -> None:
    n = 12
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:02d}" for i in range(n)],
            "name": [f"Person {chr(65 + i)}" for i in range(n)],
            "email": ["info@example.com"] * n,
            "phone": [None] * n,
        }
    )
    found = find_duplicates(frame, max_block=10)
    assert found.pairs.empty
    assert found.skipped.to_dict("records") == [{"block": "email", "size": 12, "first": "c00"}]
    assert len(find_duplicates(frame, max_block=12).pairs) == n * (n - 1) // 2


@settings(max_examples=50)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Ann Lee", "Ann Le", "Bo Chen", "Bo Chan", "Cy"]),
            st.none() | st.sampled_from(["a@x.com", "b@x.com"]),
            st.none() | st.sampled_from(["+4930901820", "+4930901821"]),
        ),
        max_size=12,
    ),
    cks.column_names("customer", "name", "email", "phone"),
    st.randoms(use_true_random=False),
)
def test_clusters_are_the_components_of_matching_pairs_whatever_the_order(
    rows: list[tuple[str, str | None, str | None]], cols: dict[str, str], rnd: object
) -> None:
    frame = pd.DataFrame(
        {
            cols["customer"]: [f"c{i}" for i in range(len(rows))],
            cols["name"]: [r[0] for r in rows],
            cols["email"]: [r[1] for r in rows],
            cols["phone"]: [r[2] for r in rows],
        }
    )
    args = {
        "customer": cols["customer"],
        "name": cols["name"],
        "email": cols["email"],
        "phone": cols["phone"],
    }
    found = find_duplicates(frame, **args)
    # Union-find by hand over the matching pairs.
    parent = {cid: cid for cid in frame[cols["customer"]]}

    def root(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for left, right in found.pairs.loc[found.pairs["match"], ["left", "right"]].itertuples(
        index=False
    ):
        parent[root(left)] = root(right)
    expected = {}
    for cid in frame[cols["customer"]]:
        expected.setdefault(root(cid), []).append(cid)
    assert sorted(found.groups()) == sorted(tuple(g) for g in expected.values() if len(g) > 1)
    # Shuffling the rows changes no pair and no group.
    shuffled = frame.sample(frac=1.0, random_state=len(rows))
    again = find_duplicates(shuffled, **args)

    def pair_set(d: object) -> set[tuple[str, str, float]]:
        p = d.pairs  # type: ignore[attr-defined]
        return {
            (min(a, b), max(a, b), round(s, 9))
            for a, b, s in zip(p["left"], p["right"], p["score"], strict=True)
        }

    assert pair_set(found) == pair_set(again)
    assert {frozenset(g) for g in found.groups()} == {frozenset(g) for g in again.groups()}


def test_bad_arguments_raise() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "name": ["A", "B"],
            "email": [None, None],
            "phone": [None, None],
        }
    )
    with pytest.raises(ValidationError, match="unique"):
        find_duplicates(frame)
    with pytest.raises(MissingColumnError):
        find_duplicates(frame, company="firm")
    with pytest.raises(ValidationError, match="threshold"):
        find_duplicates(frame, threshold=2)
    with pytest.raises(ValidationError, match="max_block"):
        find_duplicates(frame, max_block=1)


def test_an_empty_frame_has_no_duplicates() -> None:
    frame = pd.DataFrame({"customer_id": [], "name": [], "email": [], "phone": []}, dtype=object)
    found = find_duplicates(frame)
    assert found.pairs.empty
    assert found.groups() == []
