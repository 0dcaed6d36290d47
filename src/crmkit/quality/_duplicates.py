"""Duplicate detection on a customer frame: blocking, similarity scoring, clustering.

1. **Blocking**: rows are candidates only when they share a normalised key:
   the email, the phone number, the name key with the company, or the name
   key with the birth date. Blocks larger than ``max_block`` are skipped and
   reported (a shared ``info@`` address, a call-centre number), because the
   pairs of a block grow with the square of its size.
2. **Scoring**: each candidate pair gets per-field evidence (name similarity
   from ``rapidfuzz``'s token-sort ratio on name keys; email, phone, company
   and birth date equal or not) and a score in [0, 1]: a weighted mean of the
   evidence over the fields both rows have, where agreeing emails and phones
   weigh most and disagreeing ones little (people have several).
3. **Clustering**: pairs scoring at least ``threshold`` are linked, and
   linked rows form groups (connected components, by union-find done as
   vectorised label propagation).

Everything but the name comparison and the name keys (one per distinct name)
is numpy over whole columns.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs
import numpy as np
import pandas as pd

from crmkit.core import MissingColumnError, ValidationError, check_frame, distinct
from crmkit.quality._standardize import as_objects, name_key

__all__ = ["Duplicates", "find_duplicates"]

_I64 = np.ndarray[Any, np.dtype[np.int64]]
_F64 = np.ndarray[Any, np.dtype[np.float64]]

#: (weight when the field agrees, weight when it disagrees) in the score.
WEIGHTS: dict[str, tuple[float, float]] = {
    "email": (3.0, 1.0),
    "phone": (3.0, 1.0),
    "birth_date": (1.0, 2.0),
    "company": (1.0, 0.5),
}
NAME_WEIGHT = 2.0


@attrs.frozen(repr=False, eq=False)
class Duplicates:
    """What :func:`find_duplicates` found.

    Attributes:
        pairs: one row per candidate pair (``left`` < ``right`` in frame
            order): ``left``, ``right`` (customer ids), ``score`` (0-1),
            ``match`` (score >= threshold), and the evidence per field:
            ``name`` (similarity 0-1), ``email``, ``phone``, ``company``,
            ``birth_date`` (1.0 equal, 0.0 different, NaN when a row lacks
            it or the column was not given). Sorted by score, best first.
        clusters: one row per customer in a group of two or more:
            ``customer_id`` and ``cluster`` (the id of the group's first
            customer in frame order), in frame order.
        skipped: blocks over ``max_block`` rows that were not compared:
            ``block`` (``email``, ``phone``, ``name+company``,
            ``name+birth_date``), ``size`` and ``first`` (the customer id of
            its first row, to look the block up).
        threshold: the score at which a pair is a match.
    """

    pairs: pd.DataFrame
    clusters: pd.DataFrame
    skipped: pd.DataFrame
    threshold: float

    def groups(self) -> list[tuple[str, ...]]:
        """The groups of duplicate customer ids, each in frame order, groups by their first id."""
        out: dict[Any, list[str]] = {}
        for cid, cluster in zip(
            self.clusters["customer_id"], self.clusters["cluster"], strict=True
        ):
            out.setdefault(cluster, []).append(cid)
        return [tuple(v) for v in out.values()]

    def __repr__(self) -> str:
        return (
            f"Duplicates(pairs={len(self.pairs)}, matches={int(self.pairs['match'].sum())},"
            f" groups={self.clusters['cluster'].nunique()}, skipped_blocks={len(self.skipped)})"
        )


def _codes(values: np.ndarray[Any, np.dtype[Any]]) -> _I64:
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64)


def _text_key(column: pd.Series[Any], how: str) -> np.ndarray[Any, np.dtype[Any]]:
    """Normalised keys of a text column, computed once per distinct value; None if missing."""
    values = as_objects(column)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    keys = np.empty(len(uniques) + 1, dtype=object)
    keys[-1] = None
    if how == "name":
        done = []
        for u in uniques:
            try:
                k = name_key(u)
            except ValidationError:
                k = ""
            done.append(k or None)
        keys[:-1] = done
    elif how == "email":
        keys[:-1] = [(u.strip().lower() or None) if isinstance(u, str) else None for u in uniques]
    else:  # phone: digits, with the leading + kept
        keys[:-1] = [
            ("".join(ch for ch in u if ch.isdigit() or ch == "+") or None)
            if isinstance(u, str)
            else None
            for u in uniques
        ]
    return keys[codes]


def _combine(a: _I64, b: _I64) -> _I64:
    """One code per pair of codes; -1 where either is missing."""
    out = a * (int(b.max(initial=0)) + 1) + b
    out[(a < 0) | (b < 0)] = -1
    return out


def _block_pairs(codes: _I64, max_block: int) -> tuple[_I64, _I64, _I64, _I64]:
    """Pairs (i < j) of rows sharing a code, in blocks of at most *max_block* rows.

    Returns left rows, right rows, and the start row and size of every skipped block.
    """
    rows = np.flatnonzero(codes >= 0)
    c = codes[rows]
    order = np.argsort(c, kind="stable")
    rows, c = rows[order], c[order]
    if len(c) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    sizes = np.diff(np.r_[starts, len(c)])
    lefts, rights = [], []
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= max_block)]):
        first = starts[sizes == size]
        members = rows[first[:, None] + np.arange(size)]
        i, j = np.triu_indices(int(size), 1)
        a, b = members[:, i].ravel(), members[:, j].ravel()
        lefts.append(np.minimum(a, b))
        rights.append(np.maximum(a, b))
    big = sizes > max_block
    left = np.concatenate(lefts) if lefts else np.empty(0, dtype=np.int64)
    right = np.concatenate(rights) if rights else np.empty(0, dtype=np.int64)
    skipped_rows = rows[starts[big]]
    return left, right, skipped_rows, sizes[big].astype(np.int64)


def _equal(codes: _I64, a: _I64, b: _I64) -> _F64:
    """1.0 where both rows have the key and it is equal, 0.0 different, NaN if either lacks it."""
    ca, cb = codes[a], codes[b]
    out: _F64 = (ca == cb).astype(np.float64)
    out[(ca < 0) | (cb < 0)] = np.nan
    return out


def _components(a: _I64, b: _I64, n: int) -> _I64:
    """Label of each row: the smallest row linked to it (itself if none); label propagation."""
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    ea, eb = inverse[: len(a)], inverse[len(a) :]
    lab = np.arange(len(nodes), dtype=np.int64)
    while True:
        low = np.minimum(lab[ea], lab[eb])
        new = lab.copy()
        np.minimum.at(new, ea, low)
        np.minimum.at(new, eb, low)
        new = new[new]  # pointer jumping: follow labels to their own labels
        if np.array_equal(new, lab):
            break
        lab = new
    labels[nodes] = nodes[lab]
    return labels


def _check_column(argument: str, column: object, frame: pd.DataFrame, missing: list[str]) -> None:
    if column is None:
        return
    if not isinstance(column, Hashable):
        raise ValidationError(argument, expected="a column name or None", got=column)
    if column not in frame.columns:
        missing.append(str(column))


def find_duplicates(
    frame: pd.DataFrame,
    *,
    customer: str = "customer_id",
    name: str = "name",
    email: str | None = "email",
    phone: str | None = "phone",
    company: str | None = None,
    birth_date: str | None = None,
    threshold: float = 0.8,
    max_block: int = 50,
) -> Duplicates:
    """Find customers in *frame* who are probably the same party.

    Standardise the frame first (:func:`standardize_frame`, phones to E.164
    for a region): keys are compared as given apart from case and
    separators. See the module documentation for blocking, scoring and
    clustering; :data:`WEIGHTS` holds the weights. The score of a pair is
    ``sum(w * s) / sum(w)`` over the fields both rows have, where ``s`` is the
    name similarity or 1/0 for equal/different, and ``w`` the name weight (2)
    or the field's agree/disagree weight.

    Args:
        frame: one row per customer.
        customer: the id column.
        name: the name column (required).
        email: the email column, or ``None``.
        phone: the phone column, or ``None``.
        company: the company column (blocks with the name), or ``None``.
        birth_date: the birth date column (blocks with the name), or ``None``:
            ``datetime64`` or ISO 8601 text (anything else counts as missing).
        threshold: the score at which a pair counts as a match (0-1).
        max_block: the largest block that is compared (pairs grow with its
            square); larger blocks are listed in :attr:`Duplicates.skipped`.

    Raises:
        MissingColumnError: a named column is not in the frame.
        ValidationError: a bad threshold or max_block, or ids that are
            missing or repeated.

    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "customer_id": ["c-1", "c-2", "c-3", "c-4"],
    ...     "name": ["Ann Lee", "ann  lee", "Anne Lee", "Bo Chen"],
    ...     "email": ["ann@example.com", None, "ann@example.com", "bo@example.com"],
    ...     "phone": ["+8613812345678", "+8613812345678", None, None],
    ... })
    >>> dups = find_duplicates(df)
    >>> dups.groups()
    [('c-1', 'c-2', 'c-3')]
    >>> dups.pairs[["left", "right", "score", "name", "email", "phone"]]
      left right     score      name  email  phone
    0  c-1   c-2  1.000000  1.000000    NaN    1.0
    1  c-1   c-3  0.973333  0.933333    1.0    NaN
    """
    frame = check_frame(frame, "frame", [])
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0 <= threshold <= 1
    ):
        raise ValidationError("threshold", expected="a number from 0 to 1", got=threshold)
    if isinstance(max_block, bool) or not isinstance(max_block, int) or max_block < 2:
        raise ValidationError("max_block", expected="an integer >= 2", got=max_block)
    missing: list[str] = []
    for argument, column in (
        ("customer", customer),
        ("name", name),
        ("email", email),
        ("phone", phone),
        ("company", company),
        ("birth_date", birth_date),
    ):
        _check_column(argument, column, frame, missing)
    if missing:
        raise MissingColumnError(missing, [str(c) for c in frame.columns])
    n = len(frame)
    ids = as_objects(frame[customer])
    if pd.isna(frame[customer]).any() or frame[customer].duplicated().any():
        raise ValidationError(
            customer,
            expected="one row per customer: ids present and unique",
            got="missing or repeated ids",
            hint="validate_customers() lists them",
        )

    names = _text_key(frame[name], "name")
    name_codes = _codes(names)
    keys: dict[str, _I64] = {}
    if email is not None:
        keys["email"] = _codes(_text_key(frame[email], "email"))
    if phone is not None:
        keys["phone"] = _codes(_text_key(frame[phone], "phone"))
    if company is not None:
        keys["company"] = _codes(_text_key(frame[company], "name"))
    if birth_date is not None:
        raw = frame[birth_date]
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            births = raw
        else:  # text: ISO 8601 only, so that no format is guessed per row
            births = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        day = births.dt.tz_localize(None) if births.dt.tz is not None else births
        keys["birth_date"] = _codes(day.dt.normalize().to_numpy())

    blocks: dict[str, _I64] = {}
    for field in ("email", "phone"):
        if field in keys:
            blocks[field] = keys[field]
    for field in ("company", "birth_date"):
        if field in keys:
            blocks["name+" + field] = _combine(name_codes, keys[field])

    lefts, rights, skipped = [], [], []
    for block, codes in blocks.items():
        a, b, big_rows, big_sizes = _block_pairs(codes, max_block)
        lefts.append(a)
        rights.append(b)
        if len(big_rows):
            skipped.append(
                pd.DataFrame({"block": block, "size": big_sizes, "first": ids[big_rows]})
            )
    left = np.concatenate(lefts) if lefts else np.empty(0, dtype=np.int64)
    right = np.concatenate(rights) if rights else np.empty(0, dtype=np.int64)
    pair = distinct(left * n + right)
    a, b = pair // n, pair % n

    from rapidfuzz import fuzz, process

    present = (name_codes[a] >= 0) & (name_codes[b] >= 0)
    similarity = np.full(len(a), np.nan)
    if present.any():
        scores = process.cpdist(
            names[a[present]].tolist(),
            names[b[present]].tolist(),
            scorer=fuzz.token_sort_ratio,
            workers=-1,
        )
        similarity[present] = np.asarray(scores, dtype=np.float64) / 100.0

    weighted = np.where(np.isnan(similarity), 0.0, NAME_WEIGHT * similarity)
    total = np.where(np.isnan(similarity), 0.0, NAME_WEIGHT)
    evidence: dict[str, _F64] = {}
    for field in ("email", "phone", "company", "birth_date"):
        if field in keys:
            same = _equal(keys[field], a, b)
        else:
            same = np.full(len(a), np.nan)
        evidence[field] = same
        agree, disagree = WEIGHTS[field]
        w = np.where(np.isnan(same), 0.0, np.where(same == 1.0, agree, disagree))
        weighted += w * np.nan_to_num(same)
        total += w
    score = np.divide(weighted, total, out=np.zeros(len(a)), where=total > 0)
    match = score >= threshold

    pairs = pd.DataFrame(
        {
            "left": ids[a],
            "right": ids[b],
            "score": score,
            "match": match,
            "name": similarity,
            **evidence,
        }
    )
    pairs = pairs.iloc[np.lexsort((b, a, -score))].reset_index(drop=True)

    labels = _components(a[match], b[match], n)
    sizes = np.bincount(labels, minlength=n)
    grouped = np.flatnonzero(sizes[labels] >= 2)
    clusters = pd.DataFrame({"customer_id": ids[grouped], "cluster": ids[labels[grouped]]})
    skipped_frame = (
        pd.concat(skipped, ignore_index=True)
        if skipped
        else pd.DataFrame(
            {
                "block": pd.Series(dtype=object),
                "size": pd.Series(dtype=np.int64),
                "first": pd.Series(dtype=object),
            }
        )
    )
    return Duplicates(
        pairs=pairs, clusters=clusters, skipped=skipped_frame, threshold=float(threshold)
    )
