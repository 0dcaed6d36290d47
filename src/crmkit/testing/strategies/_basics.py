"""Basic values: identifiers, text, names, time zones and instants, money, contact details, column names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Final, cast

from hypothesis import strategies as st

from crmkit.testing.strategies._share import _shared

# ================================================================ identifiers and text

# Ids: any character UTF-8 can encode except control characters (Cc, which includes
# U+0000, refused by PostgreSQL text), lone surrogates (Cs, not encodable) and white space
# (Zs, Zl, Zp: ids are trimmed tokens). Letters, digits, marks, symbols, punctuation,
# private-use and unassigned code points all appear, so bytewise ordering is exercised.
_ID_ALPHABET = st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"])


@_shared
def ids(*, prefix: str = "") -> st.SearchStrategy[str]:
    """Identifiers as hosts use them: ``c-000042`` style, UUID text, and arbitrary unicode.

    Arbitrary ids exercise ordering: every store must order ids by code point,
    as Python does (in SQL: a bytewise collation over UTF-8, e.g. ``COLLATE "C"``).
    Their characters: anything UTF-8 encodes except control characters (so
    never U+0000, which PostgreSQL ``text`` refuses), lone surrogates and
    white space.
    """
    plain = st.integers(0, 999_999).map(lambda n: f"{n:06d}")
    uuids = st.uuids().map(str)
    arbitrary = st.text(_ID_ALPHABET, min_size=1, max_size=12)
    return st.one_of(plain, uuids, arbitrary).map(lambda s: prefix + s)


@_shared
def id_columns(*, max_size: int = 60) -> st.SearchStrategy[list[str | None]]:
    """A column of customer ids as a log holds them: repeats, a few missing, any length.

    Drawn from a small pool so that ids repeat, mixing :func:`ids` (UUID text
    included), e-mail addresses and near misses that only a byte-exact
    comparison tells apart: the same text with a trailing NUL character or one more
    character, ids of exactly 8, 16 and 36 bytes, and ids that share a long prefix.
    """
    near = st.sampled_from(
        [
            "",
            "a",
            "a\x00",
            "abcdefgh",
            "abcdefgh\x00",
            "abcdefghi",
            "abcdefghabcdefgh",
            "abcdefghabcdefgi",
            "é",
            "0" * 36,
            "0" * 35 + "1",
            "customer-000000000001",
            "customer-000000000002",
        ]
    )
    one = st.one_of(ids(), emails(), near, st.text(_ID_ALPHABET, max_size=30))
    pool = st.lists(st.one_of(one, st.none()), min_size=1, max_size=12)
    return pool.flatmap(lambda values: st.lists(st.sampled_from(values), max_size=max_size))


# Free text: every character UTF-8 can encode (controls, tabs, newlines, emoji, unassigned
# code points) except lone surrogates (Cs, not encodable) and U+0000, which no database
# text type is required to hold (PostgreSQL text and jsonb refuse it) and no real name or
# note contains. Stores must keep everything else exactly.
_TEXT_ALPHABET = st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00")


@_shared
def texts(*, max_size: int = 40) -> st.SearchStrategy[str]:
    """Free text that crmkit accepts (something besides white space), already normalised.

    Normalised means white space runs collapsed to one space and trimmed, as
    the entities store it, so a generated value equals its stored form. The
    characters: everything UTF-8 encodes, control characters included, except
    lone surrogates and U+0000 (which PostgreSQL ``text`` and ``jsonb`` refuse).
    """
    return (
        st.text(_TEXT_ALPHABET, min_size=1, max_size=max_size)
        .map(lambda s: " ".join(s.split()))
        .filter(bool)
    )


_GIVEN = ["Ann", "Bo", "Chen", "Dana", "Émile", "Fatima", "Giulia", "Hiroshi", "李", "Ольга"]
_FAMILY = ["Lee", "Wang", "O'Brien", "Müller", "García", "Nakamura", "张", "Иванова", "Smith"]


@_shared
def names() -> st.SearchStrategy[str]:
    """Names of people and companies: realistic ones and arbitrary unicode text."""
    realistic = st.builds(
        lambda g, f: f"{g} {f}", st.sampled_from(_GIVEN), st.sampled_from(_FAMILY)
    )
    return st.one_of(realistic, texts())


# ================================================================ time


@_shared
def timezones() -> st.SearchStrategy[tzinfo]:
    """UTC, and fixed offsets from -12:00 to +14:00 in quarter hours (no tz database needed)."""
    offsets = st.integers(-12 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
    return st.one_of(st.just(UTC), offsets)


@_shared
def aware_datetimes(
    *,
    min_value: datetime = datetime(1990, 1, 1),
    max_value: datetime = datetime(2060, 12, 31),
    zones: st.SearchStrategy[tzinfo] | None = None,
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes (with microseconds) in UTC and other zones.

    *min_value* and *max_value* are naive wall-clock bounds, as in
    :func:`hypothesis.strategies.datetimes`.
    """
    return st.datetimes(
        min_value=min_value,
        max_value=max_value,
        timezones=timezones() if zones is None else zones,
    )


# ================================================================ money


@_shared
def amounts(
    *,
    min_value: Decimal | int = 0,
    max_value: Decimal | int = 1_000_000,
    places: int | None = None,
) -> st.SearchStrategy[Decimal]:
    """Non-negative Decimal amounts with realistic scales (0 to 4 places unless *places*).

    The scale is part of the value: ``Decimal("12.50")`` must come back as
    ``12.50``, not ``12.5``.
    """
    scales = st.just(places) if places is not None else st.integers(0, 4)
    return scales.flatmap(
        lambda p: st.decimals(
            min_value=min_value,
            max_value=max_value,
            places=p,
            allow_nan=False,
            allow_infinity=False,
        )
    )


@_shared
def currencies() -> st.SearchStrategy[str]:
    """ISO 4217 currency codes (a few common ones)."""
    return st.sampled_from(["CNY", "EUR", "USD", "GBP", "JPY", "HKD"])


# ================================================================ personal data


_LOWER = "abcdefghijklmnopqrstuvwxyz"
_LABEL = st.builds(
    lambda head, middle: head + middle,
    st.text(_LOWER + "0123456789", min_size=1, max_size=8),
    st.sampled_from(["", "-mail", "-1"]),
)


@_shared
@st.composite
def emails(draw: st.DrawFn) -> str:
    """Email addresses crmkit accepts, already normalised (lower case)."""
    local = draw(st.text(_LOWER + "0123456789._%+-", min_size=1, max_size=16))
    labels = draw(st.lists(_LABEL, min_size=1, max_size=2))
    tld = draw(st.text(_LOWER, min_size=2, max_size=6))
    return f"{local}@{'.'.join(labels)}.{tld}"


@_shared
@st.composite
def phones(draw: st.DrawFn) -> str:
    """Phone numbers crmkit accepts, already normalised (digits, optional leading ``+``)."""
    digits = draw(st.text("0123456789", min_size=5, max_size=15))
    plus = draw(st.booleans()) and not digits.startswith("00")
    if not plus and digits.startswith("00"):
        digits = "1" + digits[1:]  # a leading 00 would be normalised to +
    return ("+" if plus else "") + digits


# ================================================================ column names
# Tests of frame functions draw the column names too: nothing may assume "id" or "date".

_FEATURE_ARGUMENTS = (
    "customer",
    "date",
    "amount",
    "settlement",
    "severity",
    "channel",
    "score",
    "scale",
)
_COLUMN_NAMES = st.one_of(
    st.sampled_from(
        ["id", "date", "customer_id", "occurred_at", "amount", "when", "Kunde", "金额"]
    ),
    texts(max_size=12),
)


@_shared
def column_names(*arguments: str) -> st.SearchStrategy[dict[str, str]]:
    """Distinct column names keyed by the argument of ``features`` that names them.

    With no *arguments*: ``customer``, ``date``, ``amount``, ``settlement``,
    ``severity``, ``channel``, ``score`` and ``scale``. Names include the
    usual ones (``"id"``, ``"date"``...) in the wrong places, and unicode.
    """
    keys = arguments or _FEATURE_ARGUMENTS
    return st.lists(_COLUMN_NAMES, min_size=len(keys), max_size=len(keys), unique=True).map(
        lambda names: dict(zip(keys, names, strict=True))
    )


# ================================================================ data quality and privacy

_PHONE_REGIONS: Final = ("CN", "DE", "US", "GB", "FR", "JP", "BR", "IN", "SG", "AU")


@_shared
def e164_phones() -> st.SearchStrategy[str]:
    """Valid phone numbers in E.164 form (``+8613812345678``), as ``phonenumbers`` reads them.

    Built from the library's example numbers of several regions with the
    last digits varied and kept only where still valid. Needs the
    ``quality`` extra (``phonenumbers``).
    """
    import phonenumbers

    def build(region: str, tail: int) -> str | None:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is None:
            return None
        national = str(example.national_number)
        varied = national[:-3] + f"{tail:03d}"
        number = phonenumbers.parse(f"+{example.country_code}{varied}")
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    return (
        st.builds(build, st.sampled_from(_PHONE_REGIONS), st.integers(0, 999))
        .filter(lambda p: p is not None)
        .map(lambda p: cast(str, p))
    )
