"""Customer ids to integer codes, as :func:`pandas.factorize` does, but fast for strings.

``pandas.factorize`` on ten million Python strings takes seconds: every lookup
reads the string object (for its hash) at a random place in memory. Customer
ids in a transaction log repeat, and the repeats are usually the *same*
objects (readers such as ``read_csv`` de-duplicate strings). So object columns
are factorised in two steps:

1. by identity: the object array's pointers, viewed as ``int64`` through the
   array interface (never dereferenced), are factorised as integers;
2. by value: one representative object per identity group is factorised, in
   memory-address order so that the objects are read sequentially.

The result is exactly :func:`pandas.factorize`'s: codes in order of first
appearance, ``-1`` for missing values, uniques as an array. If two distinct
objects hold the same id, step 2 merges them, so the answer never depends on
how the objects are shared; only the speed does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["factorize", "factorize_first"]

Codes = npt.NDArray[np.intp]
_Found = tuple[Codes, Codes, npt.NDArray[Any] | None]
"""Codes, first rows, and the uniques if they came for free (else ``objects[first]``)."""


class _Pointers:
    """Exposes an object array's buffer of pointers as ``int64`` (read-only, keeps it alive)."""

    def __init__(self, objects: npt.NDArray[np.object_]) -> None:
        self._objects = objects  # the int64 view's base; keeps the objects alive
        self.__array_interface__ = {
            "version": 3,
            "shape": objects.shape,
            "typestr": "<i8",
            "data": (objects.__array_interface__["data"][0], True),
        }


def _pointer_view(objects: npt.NDArray[np.object_]) -> npt.NDArray[np.int64] | None:
    """The pointers of a contiguous object array as int64, or None where that is not possible."""
    if (
        objects.ndim != 1
        or not objects.flags.c_contiguous
        or objects.dtype.itemsize != 8
        or np.dtype(np.intp).itemsize != 8
        or len(objects) == 0
    ):
        return None
    view: npt.NDArray[np.int64] = np.asarray(_Pointers(objects))
    return view


_CHUNK = 1 << 20


_SAMPLE = 1 << 16

_BLOCK = 1 << 15  # rows hashed together (their words fit the cache)


def _first_appearances(codes: Codes) -> Codes:
    """Where each code first appears, for codes numbered in order of first appearance.

    A code first appears where the running maximum of the codes goes up
    (missing values, ``-1``, never do).
    """
    first: list[Codes] = []
    seen = -1
    for start in range(0, len(codes), _CHUNK):
        running = np.maximum.accumulate(codes[start : start + _CHUNK])
        np.maximum(running, seen, out=running)
        up = np.empty(len(running), dtype=bool)
        up[0] = running[0] > seen
        np.greater(running[1:], running[:-1], out=up[1:])
        first.append(np.flatnonzero(up) + start)
        seen = int(running[-1])
    if not first:
        return np.empty(0, dtype=np.intp)
    return np.concatenate(first).astype(np.intp, copy=False)


def _pandas(values: Any) -> _Found:
    codes, uniques = pd.factorize(values)
    codes = codes.astype(np.intp, copy=False)
    return codes, _first_appearances(codes), np.asarray(uniques)


def _factorize_objects(objects: npt.NDArray[np.object_]) -> _Found:
    pointers = _pointer_view(objects)
    n = len(objects)
    if pointers is None:
        return _pandas(objects)
    sample = pointers[:: max(n // _SAMPLE, 1)]
    if len(np.unique(sample)) * 8 <= len(sample):
        return _few_objects(objects, pointers)
    return _many_objects(objects, pointers)


def _few_objects(objects: npt.NDArray[np.object_], pointers: npt.NDArray[np.int64]) -> _Found:
    """Few distinct objects (settlement methods, a small customer base): hash the pointers."""
    identity, _ = pd.factorize(pointers)
    identity = identity.astype(np.intp, copy=False)
    # Groups are numbered by first appearance, so their representatives are in
    # that order, and so are the values pandas numbers from them.
    group_rows = _first_appearances(identity)
    value_of_group, uniques = pd.factorize(objects[group_rows])
    value_of_group = value_of_group.astype(np.intp, copy=False)
    np.take(value_of_group, identity, out=identity)
    # A value first appears with the first of its groups (groups are in row order).
    first = group_rows[_first_appearances(value_of_group)]
    return identity, first, np.asarray(uniques, dtype=object)


def _many_objects(objects: npt.NDArray[np.object_], pointers: npt.NDArray[np.int64]) -> _Found:
    """Many distinct objects (customer ids): one sort instead of a large hash table."""
    n = len(objects)
    # 1. Group rows by object identity with one sort of (pointer, row) packed into an
    #    int64: objects are aligned, so the low pointer bits are zero and can go.
    low_bits = int(np.bitwise_or.reduce(pointers))
    shift = (low_bits & -low_bits).bit_length() - 1 if low_bits else 0
    base = int(pointers.min())
    span = ((int(pointers.max()) - base) >> shift) + 1
    row_bits = max(n - 1, 1).bit_length()
    if span.bit_length() + row_bits > 62:
        return _pandas(objects)
    packed = pointers - base
    packed >>= shift
    packed <<= row_bits
    starts = np.empty(n, dtype=bool)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        packed[lo:hi] |= np.arange(lo, hi, dtype=np.int64)
    packed.sort()
    starts[0] = True
    for lo in range(1, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        np.not_equal(
            packed[lo:hi] >> row_bits, packed[lo - 1 : hi - 1] >> row_bits, out=starts[lo:hi]
        )
    packed &= (1 << row_bits) - 1  # now the row of each sorted position
    rows = packed
    group_start = np.flatnonzero(starts)
    first_row = rows[group_start]  # a group's rows are sorted, so this is its first row
    # 2. Label one representative per identity group by value; groups are in
    #    address order, so the objects are read sequentially.
    representatives = objects[first_row]
    value_of_group = _distinct_strings(representatives)
    if value_of_group is None:
        value_of_group = pd.factorize(representatives)[0].astype(np.intp, copy=False)
    # 3. Number the values in order of first appearance, as pandas.factorize does:
    #    one sort of (first row, value) packed into an int64.
    known = value_of_group >= 0
    n_values = int(value_of_group.max()) + 1 if len(value_of_group) else 0
    first_seen = np.full(n_values, n, dtype=np.int64)
    np.minimum.at(first_seen, value_of_group[known], first_row[known])
    value_bits = max(n_values - 1, 1).bit_length()
    if value_bits + row_bits > 62:  # (beyond two billion rows)
        value_order = np.argsort(first_seen, kind="stable")
        first_seen = first_seen[value_order]
    else:
        packed_order = first_seen << value_bits
        packed_order |= np.arange(n_values, dtype=np.int64)
        packed_order.sort()
        value_order = packed_order & ((1 << value_bits) - 1)
        first_seen = packed_order >> value_bits
    rank = np.empty(n_values, dtype=np.intp)
    rank[value_order] = np.arange(n_values, dtype=np.intp)
    relabel = np.full(len(group_start), -1, dtype=np.intp)
    relabel[known] = rank[value_of_group[known]]
    # 4. Back to row order, a chunk at a time: a sorted position's group is the
    #    running count of group starts.
    codes = np.empty(n, dtype=np.intp)
    group_before = -1
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        group = np.cumsum(starts[lo:hi].view(np.int8), dtype=np.intp)
        group += group_before
        group_before = int(group[-1])
        codes[rows[lo:hi]] = relabel[group]
    return codes, first_seen.astype(np.intp, copy=False), None


def _distinct_strings(objects: npt.NDArray[np.object_]) -> Codes | None:
    """``pandas.factorize(objects)[0]`` if the objects are distinct strings, else None.

    Strings with pairwise different hashes are different strings, so when no
    two hashes are equal the codes are just a count of the present values: a
    sort of the hashes replaces a hash table (the objects of a log's ids are
    mostly distinct strings, and a table of a million of them does not fit a
    cache).
    """
    if pd.api.types.infer_dtype(objects, skipna=True) != "string":
        return None
    missing = pd.isna(objects)
    present = objects[~missing] if missing.any() else objects
    hashes = np.fromiter(map(hash, present), dtype=np.int64, count=len(present))
    hashes.sort()
    if len(hashes) > 1 and bool((hashes[1:] == hashes[:-1]).any()):
        return None
    codes = np.full(len(objects), -1, dtype=np.intp)
    codes[~missing] = np.arange(len(present), dtype=np.intp)
    return codes


_SHORT = 7
_NULL_KEY = np.uint64(0xFF << 56)  # no key of a string of 7 bytes or fewer has this top byte
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd (2**64 / the golden ratio)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)  # odd (splitmix64's)
_LOW_BYTES = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [2**64 - 1], dtype=np.uint64)


class _Strings:
    """One Arrow chunk of strings as numpy views: starts, lengths (``-1`` for null), bytes.

    Nothing is copied but the offsets (as ``int64``): the words of a string are
    read straight from the chunk's data buffer.
    """

    __slots__ = ("data", "fixed", "lengths", "longest", "nulls", "starts")

    def __init__(self, chunk: Any) -> None:
        import pyarrow as pa

        _, offset_buffer, data_buffer = chunk.buffers()[:3]
        offset_type = np.int32 if pa.types.is_string(chunk.type) else np.int64
        offsets = np.frombuffer(offset_buffer, dtype=offset_type)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ].astype(np.int64)
        self.starts = offsets[:-1]
        lengths = np.diff(offsets)
        self.nulls: npt.NDArray[np.bool_] | None = None
        if chunk.null_count:
            self.nulls = chunk.is_null().to_numpy(zero_copy_only=False)
            lengths[self.nulls] = -1
        self.lengths = lengths
        self.longest = int(lengths.max())
        data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else None
        if data is None or len(data) < 8:  # (a tiny chunk) padded, so a word can be read anywhere
            padded = np.zeros(8, dtype=np.uint8)
            if data is not None:
                padded[: len(data)] = data
            data = padded
        self.data = data
        # Every string the same length (no nulls): the strings are a fixed-width matrix.
        # The caller sets this for all chunks at once (one layout of words for the column).
        self.fixed = self.nulls is None and self.longest >= 8 and int(lengths.min()) == self.longest

    def word(
        self, k: int, rows: slice | npt.NDArray[np.intp] = slice(None)
    ) -> npt.NDArray[np.uint64]:
        """Bytes ``8k`` to ``8k + 7`` of each string (of *rows*) as little-endian ``uint64``.

        Bytes past a string's end are zero (so the length belongs in every
        key), except in the fixed layout, where the last word of a string
        whose length is not a multiple of 8 overlaps the one before it and
        never reads past the string. May be a read-only view of the buffer.
        """
        if self.fixed and isinstance(rows, slice):
            lo, hi, _ = rows.indices(len(self.starts))
            at = int(self.starts[0]) + lo * self.longest + min(8 * k, self.longest - 8)
            view: npt.NDArray[np.uint64] = np.ndarray(
                (max(hi - lo, 0),),
                dtype="<u8",
                buffer=self.data,
                offset=at,
                strides=(self.longest,),
            )
            return view
        starts = self.starts[rows]
        if self.fixed:
            return self._gather(starts + min(8 * k, self.longest - 8))
        words = self._gather(starts + 8 * k)
        remaining = np.clip(self.lengths[rows] - 8 * k, 0, 8)
        words &= _LOW_BYTES[remaining]
        return words

    def _gather(self, at: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        last = len(self.data) - 8
        unaligned: npt.NDArray[np.uint64] = np.ndarray(
            (last + 1,), dtype="<u8", buffer=self.data, strides=(1,)
        )
        words = unaligned[np.minimum(at, last)]
        over = at > last
        if over.any():  # near the end of the buffer: read the last word and shift
            shift = np.minimum(at[over] - last, 7).astype(np.uint64) * np.uint64(8)
            words[over] >>= shift
        return words


def _few_values(values: pd.Series[Any]) -> bool:
    """Whether a sample of *values* holds few distinct values (a category, not an id).

    pandas then factorises them fastest: its hash table of a few strings
    stays in the cache, and no check against the strings is needed.
    """
    n = len(values)
    sample = values.iloc[:: max(n // _SAMPLE, 1)]
    return len(sample) >= 64 and sample.nunique(dropna=False) * 8 <= len(sample)


def _arrow_chunks(values: pd.Series[Any]) -> list[_Strings] | None:
    """The Arrow chunks of a string column (``string``/``large_string``), or None."""
    import pyarrow as pa

    array = pa.array(values.array)  # the column's own (chunked) array: no copy
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    return [_Strings(chunk) for chunk in chunks if len(chunk)]


def _short_keys(chunk: _Strings) -> npt.NDArray[np.uint64]:
    """Strings of 7 bytes or fewer: their bytes plus their length in the top byte (exact)."""
    keys = chunk.word(0)
    keys |= np.maximum(chunk.lengths, 0).astype(np.uint64) << np.uint64(56)
    if chunk.nulls is not None:
        keys[chunk.nulls] = _NULL_KEY
    keys *= _MIX  # a bijection: spreads structured keys over pandas' weak integer hash
    return keys


def _words(longest: int) -> int:
    return max(-(-longest // 8), 1)


def _hash_keys(chunk: _Strings, words: int) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each string's length and its *words* words (equal strings hash alike).

    Done a block of rows at a time, so that the block's keys, words and
    shifts stay in the cache through all the rounds.
    """
    n = len(chunk.starts)
    keys = chunk.lengths.astype(np.uint64)
    tmp = np.empty(min(n, _BLOCK), dtype=np.uint64)
    shift31, shift29 = np.uint64(31), np.uint64(29)
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        block, t = keys[lo:hi], tmp[: hi - lo]
        block *= _MIX
        for k in range(words):
            block ^= chunk.word(k, slice(lo, hi))
            block *= _MIX2
            np.right_shift(block, shift31, out=t)
            block ^= t
        block *= _MIX
        np.right_shift(block, shift29, out=t)
        block ^= t
    return keys


def _same_as_first(chunks: list[_Strings], codes: Codes, first: Codes, words: int) -> bool:
    """Whether every string equals the first string of its code (no two strings hashed alike).

    Two strings of one length are equal when their words are. Each row is
    compared with its code's row of a table of the first strings' words (one
    gather of a table row per row, a chunk of rows at a time).
    """
    bounds = np.cumsum([0] + [len(c.starts) for c in chunks])
    lengths = np.empty(len(first), dtype=np.int64)
    table = np.empty((len(first), words), dtype=np.uint64)
    cut = np.searchsorted(first, bounds)  # first rows are increasing: each chunk's are a slice
    for i, chunk in enumerate(chunks):
        mine = slice(int(cut[i]), int(cut[i + 1]))
        rows = (first[mine] - bounds[i]).astype(np.intp)
        lengths[mine] = chunk.lengths[rows]
        for k in range(words):
            table[mine, k] = chunk.word(k, rows)
    rows_of_table = table.view(np.dtype((np.void, 8 * words))).ravel()  # a whole row per take
    theirs_rows = np.empty(min(len(codes), _BLOCK), dtype=rows_of_table.dtype)
    for i, chunk in enumerate(chunks):
        n = len(chunk.starts)
        for lo in range(0, n, _BLOCK):  # a block at a time: the block's rows stay in the cache
            hi = min(lo + _BLOCK, n)
            own = codes[bounds[i] + lo : bounds[i] + hi]
            # (In the fixed layout every string has the longest length: nothing to compare.)
            if not chunk.fixed and not np.array_equal(chunk.lengths[lo:hi], lengths[own]):
                return False
            theirs = rows_of_table.take(own, out=theirs_rows[: hi - lo])
            theirs_words = theirs.view(np.uint64).reshape(hi - lo, words)
            for k in range(words):
                if not np.array_equal(chunk.word(k, slice(lo, hi)), theirs_words[:, k]):
                    return False
    return True


def _joined(parts: list[npt.NDArray[np.uint64]]) -> npt.NDArray[np.uint64]:
    """The keys of all chunks as one array (the one chunk's own array if there is one)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _arrow_strings(values: pd.Series[Any]) -> _Found | None:
    """Factorise Arrow strings as 64-bit integer keys (a hash table of integers, not of strings).

    Strings of 7 bytes or fewer, and columns of strings of exactly 8 bytes, are
    their own keys. Longer strings (UUIDs, e-mail addresses) are hashed to 64
    bits, a word at a time with numpy; the codes are then checked against the
    strings, every row against the first row of its code, so a collision of
    two hashes is found and the column is factorised by pandas instead. Either
    way the answer is exact. None if *values* are not Arrow strings.
    """
    if _few_values(values):
        return None
    chunks = _arrow_chunks(values)
    if not chunks:
        return None
    longest = max(c.longest for c in chunks)
    if longest <= 0:
        return None
    fixed = all(c.fixed and c.longest == longest for c in chunks)
    for chunk in chunks:  # one layout of words for the whole column
        chunk.fixed = fixed
    words = _words(longest)
    exact = longest <= _SHORT or (fixed and longest == 8)
    if longest <= _SHORT:
        keys = _joined([_short_keys(c) for c in chunks])
    elif exact:
        keys = _joined([c.word(0) for c in chunks])
        if len(chunks) == 1:  # (the word is a view of the strings' buffer)
            keys = keys * _MIX
        else:
            keys *= _MIX
    else:
        keys = _joined([_hash_keys(c, words) for c in chunks])
    codes, _ = pd.factorize(keys)
    del keys
    codes = codes.astype(np.intp, copy=False)
    first = _first_appearances(codes)
    if not exact and not _same_as_first(chunks, codes, first, words):
        return None
    if any(c.nulls is not None for c in chunks):
        # The null key has a code of its own: drop it and renumber the later ones.
        null_rows = np.concatenate(
            [c.nulls if c.nulls is not None else np.zeros(len(c.starts), bool) for c in chunks]
        )
        null_code = int(codes[int(np.argmax(null_rows))])
        codes[codes > null_code] -= 1
        codes[null_rows] = -1
        first = np.delete(first, null_code)
    return codes, first, None


def _find(values: pd.Series[Any]) -> _Found:
    dtype = values.dtype
    if pd.api.types.is_object_dtype(dtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "python"
    ):
        objects = values.to_numpy(dtype=object)
        if len(objects) > 0:
            return _factorize_objects(objects)
    elif len(values) and (
        (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow")
        or (isinstance(dtype, pd.ArrowDtype) and dtype.kind in "OU")
    ):
        found = _arrow_strings(values)
        if found is not None:
            return found
    return _pandas(values)


def factorize(values: pd.Series[Any]) -> tuple[Codes, npt.NDArray[Any]]:
    """Codes and uniques of *values*, exactly as :func:`pandas.factorize` returns them.

    Codes number the distinct values in order of first appearance; missing
    values get ``-1``.

    >>> codes, uniques = factorize(pd.Series(["b", "a", None, "b"]))
    >>> codes.tolist(), uniques.tolist()
    ([0, 1, -1, 0], ['b', 'a'])
    """
    codes, first, uniques = _find(values)
    if uniques is None:
        uniques = values.take(first).to_numpy(dtype=object)
    return codes, uniques


def factorize_first(values: pd.Series[Any]) -> tuple[Codes, Codes]:
    """:func:`factorize`'s codes, and the row where each unique first appears.

    ``values.take(first)`` holds the uniques in *values*' own dtype, without
    converting them (building an index from the uniques would infer a dtype,
    and for strings copy each one into Arrow memory).

    >>> codes, first = factorize_first(pd.Series(["b", "a", None, "b", "c"]))
    >>> codes.tolist(), first.tolist()
    ([0, 1, -1, 0, 2], [0, 1, 4])
    """
    codes, first, _ = _find(values)
    return codes, first
