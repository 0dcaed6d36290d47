"""A seeded customer frame with known duplicates, for tests, docs and benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.core import ValidationError

__all__ = ["synthetic_customers"]

_SYLLABLES = [
    "an", "bo", "chen", "da", "el", "fa", "gu", "hao", "in", "jun", "ka", "li", "ma", "no",
    "ol", "pe", "qi", "ra", "si", "ta", "ul", "vi", "wen", "xi", "ya", "zo", "mei", "lin",
    "son", "ber", "ger", "mar", "ros", "tan", "kim", "sil", "nov", "ric", "hel", "dor",
]  # fmt: skip
_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.cn", "post.example.de"]


def _words(rng: np.random.Generator, count: int, parts: int) -> np.ndarray:
    """*count* capitalised made-up words of *parts* syllables each."""
    syl = np.array(_SYLLABLES, dtype=object)
    words = syl[rng.integers(0, len(syl), count)]
    for _ in range(parts - 1):
        words = words + syl[rng.integers(0, len(syl), count)]
    return np.array([w.capitalize() for w in words], dtype=object)


def _typo(name: str, kind: int, pos: int) -> str:
    """One realistic variation of a name: a dropped, doubled or swapped letter, or spacing and case."""
    if len(name) < 4:
        return name.upper()
    p = 1 + pos % (len(name) - 2)
    if kind == 0:
        return name[:p] + name[p + 1 :]
    if kind == 1:
        return name[:p] + name[p] + name[p:]
    if kind == 2:
        return name[:p] + name[p + 1] + name[p] + name[p + 2 :]
    if kind == 3:
        return "  " + name.upper() + " "
    return " ".join(reversed(name.split(" ")))


def synthetic_customers(
    n: int, *, duplicate_share: float = 0.1, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """A customer frame of *n* rows, some of which are duplicates of others, and the truth.

    Columns: ``customer_id``, ``name``, ``email``, ``phone`` (E.164),
    ``birth_date`` (``datetime64``, some missing) and ``company`` (some
    missing). A share *duplicate_share* of the rows are second records of
    another row's person: the name possibly misspelt, re-ordered or
    re-cased, and the email or the phone (or both) missing where the first
    record had one, the way records made at a till or by import look. Each
    duplicate keeps at least one of email, phone, or the unchanged name with
    the birth date or the company, so it can be found. Returns the frame and
    an array of the person behind each row (equal values: the same person).

    >>> df, person = synthetic_customers(1_000, seed=1)
    >>> len(df), int(len(df) - len(set(person)))
    (1000, 100)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError("n", expected="an integer >= 1", got=n)
    if not isinstance(duplicate_share, (int, float)) or not 0 <= duplicate_share < 1:
        raise ValidationError("duplicate_share", expected="a share in [0, 1)", got=duplicate_share)
    rng = np.random.default_rng(seed)
    dups = round(n * duplicate_share)
    people = n - dups
    given = _words(rng, people, 2)
    family = _words(rng, people, int(rng.integers(1, 3)))
    name = given + " " + family
    tag = np.char.mod("%x", np.arange(people)).astype(object)
    domain = np.array(_DOMAINS, dtype=object)[rng.integers(0, len(_DOMAINS), people)]
    email = np.char.lower((given + "." + family).astype(str)).astype(object) + tag + "@" + domain
    email[rng.random(people) < 0.15] = None
    mobile = rng.permutation(people) + rng.integers(0, 10**9 - people)
    phone = np.char.add("+861", np.char.zfill(mobile.astype(str), 10)).astype(object)
    phone[rng.random(people) < 0.2] = None
    birth = np.datetime64("1950-01-01") + rng.integers(0, 20_000, people).astype("timedelta64[D]")
    birth_known = rng.random(people) < 0.7
    company_pool = _words(rng, max(people // 20, 1), 3) + " Ltd"
    company = company_pool[rng.integers(0, len(company_pool), people)]
    company[rng.random(people) < 0.6] = None

    source = rng.choice(people, size=dups, replace=True)
    d_name = name[source].copy()
    change = rng.random(dups) < 0.5
    kinds = rng.integers(0, 5, dups)
    positions = rng.integers(0, 1000, dups)
    d_name[change] = [
        _typo(s, int(k), int(p))
        for s, k, p in zip(d_name[change], kinds[change], positions[change], strict=True)
    ]
    d_email = email[source].copy()
    d_phone = phone[source].copy()
    drop = rng.integers(0, 3, dups)  # 0: keep both, 1: lose email, 2: lose phone
    d_email[drop == 1] = None
    d_phone[drop == 2] = None
    # Make sure something findable remains: the unchanged name with birth date or company,
    # else the email or phone of the first record.
    weak = (d_email == None) & (d_phone == None)  # noqa: E711 - element-wise on object arrays
    weak &= change | ~(birth_known[source] | (company[source] != None))  # noqa: E711
    d_name[weak] = name[source][weak]
    still = weak & ~(birth_known[source] | (company[source] != None))  # noqa: E711
    d_email[still] = email[source][still]
    d_phone[still] = phone[source][still]

    order = rng.permutation(n)
    person = np.concatenate([np.arange(people), source])[order]
    births = np.concatenate([birth, birth[source]]).astype("datetime64[ns]")
    known = np.concatenate([birth_known, birth_known[source]])
    births[~known] = np.datetime64("NaT")
    frame = pd.DataFrame(
        {
            "customer_id": np.char.add("c", np.char.zfill(np.arange(n).astype(str), 8)).astype(
                object
            ),
            "name": np.concatenate([name, d_name])[order],
            "email": np.concatenate([email, d_email])[order],
            "phone": np.concatenate([phone, d_phone])[order],
            "birth_date": births[order],
            "company": np.concatenate([company, company[source]])[order],
        }
    )
    return frame, person
