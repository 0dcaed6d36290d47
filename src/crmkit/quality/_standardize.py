"""Standardisation of names, email addresses and phone numbers, one value or whole columns.

One spelling per value is what matching needs: names in Unicode NFKC with
single spaces (and case-folded for matching keys), email addresses trimmed and
lower-cased, phone numbers in E.164 (``+8613812345678``) as parsed by the
``phonenumbers`` library (Google's libphonenumber metadata) for a default
region. The column functions work on the distinct values only, so a frame with
repeated values costs one parse per distinct value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable
from typing import Any, TypeVar

import attrs
import numpy as np
import pandas as pd

from crmkit.core import ValidationError, check_frame
from crmkit.domain import EMAIL_PATTERN, Contact, Customer

__all__ = [
    "name_key",
    "standardize_email",
    "standardize_entity",
    "standardize_frame",
    "standardize_name",
    "standardize_phone",
]

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s]")

NAME_PROBLEM = "expected a non-empty name"
EMAIL_PROBLEM = "expected an email address like name@example.com"


def _phone_problem(region: str | None) -> str:
    if region is None:
        return "expected a phone number in international form (+country ...); no region given"
    return f"expected a valid phone number (national numbers read for region {region})"


def standardize_name(value: object) -> str:
    r"""Return *value* in Unicode NFKC with single spaces and no surrounding space.

    Full-width letters and digits become their ASCII forms and every run of
    white space (tabs, ideographic spaces) one space. Case is kept: use
    :func:`name_key` to compare names.

    Raises:
        ValidationError: *value* is not a string, or is empty after trimming
            (the message never shows the value).

    >>> standardize_name("  \uff21\uff4e\uff4e\u3000 LEE ")
    'Ann LEE'
    """
    if not isinstance(value, str):
        raise ValidationError("name", expected="a string", got=value, personal=True)
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()
    if not text:
        raise ValidationError("name", expected="a non-empty name", got=value, personal=True)
    return text


def name_key(value: object) -> str:
    """The matching key of a name: standardised, case-folded, accents and punctuation removed.

    Two spellings of one name that differ only in case, accents, punctuation or
    spacing get the same key; duplicate detection blocks and compares on it.

    >>> name_key("  José  O'Neil "), name_key("JOSE O'NEIL")
    ('jose oneil', 'jose oneil')
    """
    text = standardize_name(value).casefold()
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    return _SPACES.sub(" ", _NOT_WORD.sub("", text)).strip()


def standardize_email(value: object) -> str:
    r"""Return an email address in NFKC, trimmed and lower-cased.

    Raises:
        ValidationError: not a well-formed address (the message never shows it).

    >>> standardize_email(" \uff21nn@Example.COM ")
    'ann@example.com'
    """
    if not isinstance(value, str):
        raise ValidationError("email", expected="an email address", got=value, personal=True)
    email = unicodedata.normalize("NFKC", value).strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise ValidationError(
            "email", expected="an email address like name@example.com", got=value, personal=True
        )
    return email


def _check_region(region: object) -> str | None:
    if region is None:
        return None
    import phonenumbers

    if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            "region",
            expected="None or a two-letter region code known to phonenumbers, such as 'CN'",
            got=region,
        )
    return region.upper()


def _parse_phone(value: str, region: str | None) -> str | None:
    """E.164 of *value*, or ``None`` if it is not a valid number."""
    import phonenumbers

    if region is None:
        text = value.strip()
        if text.startswith("00"):  # the international prefix of most countries
            value = "+" + text[2:]
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def standardize_phone(value: object, *, region: str | None = None) -> str:
    """Return a phone number in E.164 form, read with the ``phonenumbers`` library.

    Args:
        value: the number as written (spaces, dashes, brackets, ``00`` or ``+``).
        region: the region national numbers belong to (``"CN"``, ``"DE"``);
            ``None`` accepts international numbers only (``+`` or ``00``).

    Raises:
        ValidationError: not a valid number for its region (the message never
            shows it), or an unknown *region*.

    >>> standardize_phone("138 1234 5678", region="CN")
    '+8613812345678'
    >>> standardize_phone("+49 (0)30 901820")
    '+4930901820'
    """
    chosen = _check_region(region)
    if not isinstance(value, str):
        raise ValidationError("phone", expected="a phone number", got=value, personal=True)
    e164 = _parse_phone(value, chosen)
    if e164 is None:
        raise ValidationError(
            "phone", expected=_phone_problem(chosen)[len("expected ") :], got=value, personal=True
        )
    return e164


_E = TypeVar("_E", Customer, Contact)


def standardize_entity(entity: _E, *, region: str | None = None) -> _E:
    """Return a customer or contact with its name, email and phone standardised.

    Raises:
        ValidationError: a field cannot be standardised (named as
            ``Customer.phone``; the value is never shown).

    >>> from datetime import UTC, datetime
    >>> c = Customer(id="c-1", name=" Ann   Lee", created_at=datetime(2025, 1, 1, tzinfo=UTC),
    ...              phone="138-1234-5678")
    >>> s = standardize_entity(c, region="CN")
    >>> s.name, s.phone
    ('Ann Lee', '+8613812345678')
    """
    if not isinstance(entity, (Customer, Contact)):
        raise ValidationError(
            "entity", expected="a Customer or a Contact", got=type(entity).__name__
        )
    owner = type(entity).__name__
    changes: dict[str, Any] = {}
    try:
        changes["name"] = standardize_name(entity.name)
        if entity.email is not None:
            changes["email"] = standardize_email(entity.email)
        if entity.phone is not None:
            changes["phone"] = standardize_phone(entity.phone, region=region)
    except ValidationError as exc:
        raise ValidationError(
            f"{owner}.{exc.field}",
            expected=exc.expected or "a standard value",
            got=exc.got,
            personal=True,
        ) from None
    return attrs.evolve(entity, **changes)


# ---------------------------------------------------------------- columns


def as_objects(column: pd.Series[Any]) -> np.ndarray[Any, np.dtype[Any]]:
    """The column as an object array with ``None`` for every missing value."""
    values: np.ndarray[Any, np.dtype[Any]] = column.to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = None
    return values


def _by_distinct(
    column: pd.Series[Any], fn: Any
) -> tuple[np.ndarray[Any, np.dtype[Any]], np.ndarray[Any, np.dtype[np.bool_]]]:
    """Apply *fn* (value -> standard value or None) to the distinct values of *column*.

    Returns the standardised values (``None`` where missing or invalid) and a
    mask of the rows whose value was present but invalid.
    """
    codes, uniques = pd.factorize(as_objects(column), use_na_sentinel=True)
    done = np.empty(len(uniques) + 1, dtype=object)
    done[-1] = None
    done[:-1] = [fn(u) for u in uniques]
    result = done[codes]  # code -1 picks the trailing None
    bad_unique = np.fromiter((d is None for d in done[:-1]), dtype=bool, count=len(uniques))
    bad = np.append(bad_unique, False)[codes]
    return result, bad


def _name_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()
    return text or None


def _email_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    email = unicodedata.normalize("NFKC", value).strip().lower()
    return email if len(email) <= 254 and EMAIL_PATTERN.match(email) else None


def _phone_or_none(region: str | None) -> Any:
    def parse(value: object) -> str | None:
        return _parse_phone(value, region) if isinstance(value, str) else None

    return parse


def standardize_columns(
    frame: pd.DataFrame,
    *,
    name: str | None,
    email: str | None,
    phone: str | None,
    region: str | None,
) -> tuple[pd.DataFrame, list[tuple[str, np.ndarray[Any, np.dtype[np.bool_]], str]]]:
    """Standardise the named columns; return the new frame and (column, bad rows, problem)."""
    frame = check_frame(frame, "frame", [])
    chosen = _check_region(region)
    wanted = {
        "name": (name, _name_or_none, NAME_PROBLEM),
        "email": (email, _email_or_none, EMAIL_PROBLEM),
        "phone": (phone, _phone_or_none(chosen), _phone_problem(chosen)),
    }
    for argument, (column, _, _) in wanted.items():
        if column is not None and not isinstance(column, Hashable):
            raise ValidationError(argument, expected="a column name or None", got=column)
    missing = [c for c, _, _ in wanted.values() if c is not None and c not in frame.columns]
    if missing:
        from crmkit.core import MissingColumnError

        raise MissingColumnError(missing, [str(c) for c in frame.columns])
    out = frame.copy()
    problems: list[tuple[str, np.ndarray[Any, np.dtype[np.bool_]], str]] = []
    for column, fn, problem in wanted.values():
        if column is None:
            continue
        values, bad = _by_distinct(frame[column], fn)
        out[column] = pd.Series(values, index=frame.index, dtype=object)
        problems.append((column, bad, problem))
    return out, problems


def standardize_frame(
    frame: pd.DataFrame,
    *,
    name: str | None = "name",
    email: str | None = "email",
    phone: str | None = "phone",
    region: str | None = None,
) -> pd.DataFrame:
    """Return a copy of *frame* with its name, email and phone columns standardised.

    Each value is standardised as by :func:`standardize_name`,
    :func:`standardize_email` and :func:`standardize_phone`; a value that
    cannot be becomes ``None`` (use :func:`validate_customers` to get a report
    of them). Pass ``None`` for a column the frame does not have. Columns come
    back with ``object`` dtype.

    Raises:
        MissingColumnError: a named column is not in the frame.
        ValidationError: an unknown *region*.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"name": [" Ann  Lee", "Bo"], "email": ["ANN@X.COM", "bo@"],
    ...                    "phone": ["138 1234 5678", None]})
    >>> standardize_frame(df, region="CN")
          name        email           phone
    0  Ann Lee    ann@x.com  +8613812345678
    1       Bo         None            None
    """
    out, _ = standardize_columns(frame, name=name, email=email, phone=phone, region=region)
    return out
