"""Data quality: standardisation of values, entities and frames; bulk validation."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit.domain import Contact, Customer
from crmkit.errors import MissingColumnError, ValidationError
from crmkit.quality import (
    name_key,
    standardize_email,
    standardize_entity,
    standardize_frame,
    standardize_name,
    standardize_phone,
    validate_customers,
)
from crmkit.testing import strategies as cks

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_names_are_nfkc_with_single_spaces() -> None:
    assert standardize_name("\uff21nn\t\u3000Lee\n") == "Ann Lee"
    assert standardize_name("\uff37\uff41ng\u3000\uff2cei") == "Wang Lei"
    assert name_key("  Renée   O'Brien-Smith ") == "renee obriensmith"
    assert name_key("STRASSE") == name_key("straße")  # casefold


def test_emails_and_phones() -> None:
    assert standardize_email(" Bo.Chen@Example.CN ") == "bo.chen@example.cn"
    assert standardize_phone("010-1234 5678", region="CN") == "+861012345678"
    assert standardize_phone("0086 138 1234 5678") == "+8613812345678"
    assert standardize_phone("(030) 901820", region="de") == "+4930901820"


@pytest.mark.parametrize(
    ("fn", "value"),
    [
        (standardize_name, "   "),
        (standardize_name, 5),
        (standardize_email, "Qzv7@"),
        (standardize_phone, "Qzv7 12"),
        (standardize_phone, "138 1234 5678"),  # national, and no region given
    ],
)
def test_bad_values_raise_without_showing_them(fn: object, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        fn(value)  # type: ignore[operator]
    assert "Qzv7" not in str(caught.value)
    assert "1234" not in str(caught.value)


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(ValidationError, match="region"):
        standardize_phone("+8613812345678", region="XX")


@given(cks.names())
def test_name_standardisation_and_keys_are_idempotent(name: str) -> None:
    once = standardize_name(name)
    assert standardize_name(once) == once
    key = name_key(name)
    assert name_key(once) == key
    if key:
        assert name_key(key) == key


@given(cks.emails())
def test_email_standardisation_is_idempotent(email: str) -> None:
    once = standardize_email(email.upper())
    assert once == email
    assert standardize_email(once) == once


@given(cks.e164_phones())
def test_phone_standardisation_is_idempotent(phone: str) -> None:
    once = standardize_phone(phone)
    assert standardize_phone(once) == once


def test_entities_are_standardised() -> None:
    c = Customer(id="c-1", name=" \uff22o  Chen", created_at=T0, phone="138 1234 5678")
    s = standardize_entity(c, region="CN")
    assert (s.name, s.phone) == ("Bo Chen", "+8613812345678")
    k = Contact(id="k-1", customer_id="c-1", name="Ann", role="r", phone="12345")
    with pytest.raises(ValidationError, match=r"Contact\.phone") as caught:
        standardize_entity(k, region="CN")
    assert "12345" not in str(caught.value)


def test_frames_are_standardised_on_distinct_values() -> None:
    df = pd.DataFrame(
        {
            "nm": [" Ann ", " Ann ", None, "Bo"],
            "mail": ["A@X.COM", "A@X.COM", "bad", None],
            "tel": ["138 1234 5678", "+86 138-1234-5678", "1", np.nan],
        },
        index=[10, 11, 12, 13],
    )
    out = standardize_frame(df, name="nm", email="mail", phone="tel", region="CN")
    assert list(out["nm"]) == ["Ann", "Ann", None, "Bo"]
    assert list(out["mail"]) == ["a@x.com", "a@x.com", None, None]
    assert list(out["tel"]) == ["+8613812345678", "+8613812345678", None, None]
    assert list(out.index) == [10, 11, 12, 13]
    pd.testing.assert_frame_equal(df, df.copy())  # the input is not changed
    with pytest.raises(MissingColumnError):
        standardize_frame(df)
    only_names = standardize_frame(df, name="nm", email=None, phone=None)
    assert list(only_names["tel"]) == list(df["tel"])


@given(
    st.lists(
        st.tuples(
            st.none() | cks.ids(prefix="c-"),
            st.none() | cks.names() | st.just("  "),
            st.none() | cks.emails() | st.just("not-an-email"),
            st.none() | cks.e164_phones() | st.just("12"),
        ),
        max_size=12,
    ),
    cks.column_names("customer", "name", "email", "phone"),
)
def test_validation_reports_every_bad_field_and_passes_every_good_row(
    rows: list[tuple[object, ...]], cols: dict[str, str]
) -> None:
    df = pd.DataFrame(
        rows, columns=[cols["customer"], cols["name"], cols["email"], cols["phone"]], dtype=object
    )
    report = validate_customers(
        df, customer=cols["customer"], name=cols["name"], email=cols["email"], phone=cols["phone"]
    )
    assert report.rows == len(df)
    bad = set(report.bad_rows)
    assert set(report.valid.index) == set(df.index) - bad
    assert len(report.valid) + len(bad) == len(df)
    ids = [r[0] for r in rows]
    for i, (cid, name, email, phone) in enumerate(rows):
        found = set(report.problems.loc[report.problems["row"] == i, "column"])
        assert (cid is None or ids.count(cid) > 1) == (cols["customer"] in found)
        assert (name is None or name.strip() == "") == (cols["name"] in found)
        assert (email == "not-an-email") == (cols["email"] in found)
        assert (phone == "12") == (cols["phone"] in found)
    assert list(report.problems.columns) == ["row", "column", "value", "problem"]
    assert "@" not in repr(report)


def test_validation_checks_timestamps_and_keeps_the_index() -> None:
    df = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "name": ["Ann", "Bo"],
            "since": ["2025-01-01T00:00:00+00:00", "yesterday"],
        },
        index=["x", "y"],
    )
    report = validate_customers(df, email=None, phone=None, created_at="since")
    assert list(report.problems["row"]) == ["y"]
    assert report.problems["value"].iloc[0] == "yesterday"
    assert list(report.valid.index) == ["x"]
    assert isinstance(report.valid["since"].dtype, pd.DatetimeTZDtype)
    assert not report.ok
    with pytest.raises(MissingColumnError):
        validate_customers(df, customer="id")


def test_importing_quality_and_privacy_loads_neither_phonenumbers_nor_rapidfuzz() -> None:
    import subprocess
    import sys

    code = (
        "import sys, crmkit, crmkit.quality, crmkit.privacy; "
        "print(sorted(m for m in ('phonenumbers', 'rapidfuzz') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
