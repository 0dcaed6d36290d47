"""Privacy: consent, pseudonymisation, erasure and export."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.adapters.sqlite import SQLiteStore
from crmkit.domain import (
    Channel,
    Complaint,
    Consent,
    Contact,
    Customer,
    Interaction,
    Purchase,
    Refund,
    SurveyResponse,
    personal_fields,
)
from crmkit.errors import MissingColumnError, NotFoundError, ValidationError
from crmkit.privacy import (
    ANY_PURPOSE,
    ERASED,
    PERSONAL_COLUMNS,
    erase,
    export,
    is_erased,
    may_contact,
    pseudonym,
    pseudonymize,
)
from crmkit.testing import Repositories
from crmkit.testing import strategies as cks

T0 = datetime(2025, 1, 1, tzinfo=UTC)
KEY = b"k" * 32


def _t(days: int) -> datetime:
    return T0 + timedelta(days=days)


def _consent(purpose: str, channel: str, granted: bool, day: int) -> Consent:
    return Consent(purpose=purpose, channel=channel, granted=granted, at=_t(day))


def _ann(*consents: Consent) -> Customer:
    return Customer(id="c-1", name="Ann", created_at=T0, consents=consents)


# ---------------------------------------------------------------- consent


def test_no_record_means_no_contact() -> None:
    assert may_contact(_ann(), "marketing", "email", as_of=_t(10)) is False


def test_the_latest_record_at_or_before_as_of_decides() -> None:
    ann = _ann(
        _consent("marketing", "email", True, 1),
        _consent("marketing", "email", False, 5),
        _consent("marketing", "email", True, 9),
    )
    assert may_contact(ann, "marketing", "email", as_of=_t(0)) is False  # before any record
    assert may_contact(ann, "marketing", "email", as_of=_t(1)) is True  # at counts
    assert may_contact(ann, "marketing", "email", as_of=_t(6)) is False
    assert may_contact(ann, "marketing", "email", as_of=_t(9)) is True
    assert may_contact(ann, "marketing", Channel.SMS, as_of=_t(9)) is False
    assert may_contact(ann, "service", "email", as_of=_t(9)) is False


def test_a_withdrawal_wins_a_tie_in_time() -> None:
    ann = _ann(_consent("marketing", "email", True, 1), _consent("marketing", "email", False, 1))
    assert may_contact(ann, "marketing", "email", as_of=_t(2)) is False


def test_a_blanket_record_and_a_specific_one_give_the_least_permissive_answer() -> None:
    blanket_no = _ann(_consent("marketing", "email", True, 5), _consent("*", "email", False, 1))
    assert may_contact(blanket_no, "marketing", "email", as_of=_t(6)) is False
    blanket_yes = _ann(_consent("*", "email", True, 5), _consent("marketing", "email", False, 1))
    assert may_contact(blanket_yes, "marketing", "email", as_of=_t(6)) is False
    assert may_contact(blanket_yes, "service", "email", as_of=_t(6)) is True
    assert ANY_PURPOSE == "*"


def test_contacts_have_consent_too_and_bad_arguments_raise() -> None:
    bo = Contact(
        id="k-1",
        customer_id="c-1",
        name="Bo",
        role="spouse",
        consents=(_consent("service", "phone", True, 1),),
    )
    assert may_contact(bo, "service", "phone", as_of=_t(2)) is True
    with pytest.raises(ValidationError, match="as_of"):
        may_contact(bo, "service", "phone", as_of="2.1.2025")  # ISO 8601 only
    assert may_contact(bo, "service", "phone", as_of=datetime(2025, 1, 2)) is may_contact(
        bo, "service", "phone", as_of=datetime(2025, 1, 2, tzinfo=UTC)
    )  # a naive as_of is UTC
    with pytest.raises(ValidationError, match="channel"):
        may_contact(bo, "service", "pigeon", as_of=_t(2))
    with pytest.raises(ValidationError, match="party"):
        may_contact("c-1", "service", "phone", as_of=_t(2))  # type: ignore[arg-type]


@given(cks.customers(), cks.consents(), st.sampled_from(Channel), cks.aware_datetimes())
def test_adding_a_withdrawal_never_makes_contact_allowed(
    customer: Customer, consent: Consent, channel: Channel, as_of: datetime
) -> None:
    for purpose in ("marketing", consent.purpose):
        before = may_contact(customer, purpose, channel, as_of=as_of)
        withdrawn = attrs.evolve(consent, granted=False)
        after = may_contact(
            attrs.evolve(customer, consents=(*customer.consents, withdrawn)),
            purpose,
            channel,
            as_of=as_of,
        )
        assert not (after and not before)


# ---------------------------------------------------------------- pseudonymisation


@given(st.lists(cks.ids(), min_size=1, max_size=10), st.binary(min_size=16, max_size=40))
def test_pseudonyms_are_deterministic_per_key_and_differ_across_keys(
    ids: list[str], key: bytes
) -> None:
    frame = pd.DataFrame({"customer_id": ids, "amount": range(len(ids))})
    first = pseudonymize(frame, key=key)
    again = pseudonymize(frame.copy(), key=key)
    pd.testing.assert_frame_equal(first, again)
    assert list(first["customer_id"]) == [pseudonym(i, key=key) for i in ids]
    other = pseudonymize(frame, key=key + b"!")
    assert all(a != b for a, b in zip(first["customer_id"], other["customer_id"], strict=True))
    # Equal ids get equal pseudonyms, distinct ids distinct ones (64 bits: no collision here).
    assert first["customer_id"].nunique() == len(set(ids))


def test_pseudonymised_frames_still_join() -> None:
    customers = pd.DataFrame({"customer_id": ["c-1", "c-2"], "name": ["Ann", "Bo"]})
    orders = pd.DataFrame({"customer_id": ["c-2", "c-1", "c-2"], "amount": [1.0, 2.0, 3.0]})
    a = pseudonymize(customers, key=KEY)
    b = pseudonymize(orders, key=KEY)
    assert list(a.columns) == ["customer_id"]  # the name is dropped
    joined = b.merge(a.assign(n=1), on="customer_id")
    assert len(joined) == 3


def test_personal_columns_are_dropped_or_masked() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["c-1", None],
            "company_id": ["co-1", "co-1"],
            "name": ["Ann", "Bo"],
            "email": ["ann@example.com", None],
            "phone": ["+8613812345678", "12345"],
            "birthday": [T0, None],
            "spend": [1.0, 2.0],
        }
    )
    out = pseudonymize(frame, key=KEY, identifiers=["customer_id", "company_id"], mask=["phone"])
    assert list(out.columns) == ["customer_id", "company_id", "phone", "spend"]
    assert out["customer_id"][1] is None
    assert out["company_id"][0] == out["company_id"][1] == pseudonym("co-1", key=KEY)
    assert list(out["phone"]) == ["+86***", "***"]
    by_email = pseudonymize(frame, key=KEY, identifiers=["email"])
    assert list(by_email.columns) == ["customer_id", "company_id", "email", "spend"]
    assert by_email["email"][0] == pseudonym("ann@example.com", key=KEY)
    kept = pseudonymize(frame, key=KEY, drop=["name"])
    assert "email" in kept.columns
    assert {"name", "email", "phone", "birthday", "topic", "comment", "reason"} <= PERSONAL_COLUMNS


def test_pseudonymize_rejects_short_keys_and_unknown_columns() -> None:
    frame = pd.DataFrame({"customer_id": ["c-1"]})
    with pytest.raises(ValidationError, match="16 bytes"):
        pseudonymize(frame, key="short")
    with pytest.raises(MissingColumnError):
        pseudonymize(frame, key=KEY, identifiers=["customer"])
    with pytest.raises(ValidationError, match="length"):
        pseudonymize(frame, key=KEY, length=4)


# ---------------------------------------------------------------- erasure and export

SECRET_NAME = "Zqxv Wumpelstilz"
SECRET_EMAIL = "zqxv.wumpel@example.com"
SECRET_PHONE = "+4917655501234"
SECRET_TEXT = "Wumpelstilz complained about order 4711"


def _fill(repos: object) -> None:
    r = repos  # RepositorySet
    r.customers.add(  # type: ignore[attr-defined]
        Customer(
            id="c-1",
            name=SECRET_NAME,
            created_at=T0,
            email=SECRET_EMAIL,
            phone=SECRET_PHONE,
            attributes={"nickname": "Wumpelstilz"},
            consents=(_consent("marketing", "email", True, 0),),
        )
    )
    r.customers.add(Customer(id="c-2", name="Other Person", created_at=T0))  # type: ignore[attr-defined]
    r.contacts.add(  # type: ignore[attr-defined]
        Contact(
            id="k-1",
            customer_id="c-1",
            name=SECRET_NAME + " Jr",
            role="child",
            email="jr." + SECRET_EMAIL,
            birthday=_t(-9000),
        )
    )
    r.activities.append_many(  # type: ignore[attr-defined]
        [
            Purchase(id="p-1", customer_id="c-1", occurred_at=_t(1), amount="100", currency="EUR"),
            Purchase(id="p-2", customer_id="c-2", occurred_at=_t(1), amount="7", currency="EUR"),
            Refund(
                id="r-1",
                customer_id="c-1",
                purchase_id="p-1",
                occurred_at=_t(2),
                amount="10",
                currency="EUR",
                reason=SECRET_TEXT,
            ),
            Complaint(
                id="x-1", customer_id="c-1", occurred_at=_t(3), severity="high", topic=SECRET_TEXT
            ),
            Interaction(
                id="i-1",
                customer_id="c-1",
                occurred_at=_t(4),
                channel="phone",
                direction="inbound",
                topic=SECRET_TEXT,
            ),
            SurveyResponse(
                id="s-1",
                customer_id="c-1",
                occurred_at=_t(5),
                scale="nps",
                score=3,
                comment=SECRET_TEXT,
            ),
        ]
    )


SECRETS = ["Wumpelstilz", "zqxv", "Zqxv", "17655501234"]


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def _check_erased(repos: Repositories | SQLiteStore) -> None:
    before = export("c-1", repos)
    assert SECRET_NAME in json.dumps(before)
    record = erase("c-1", repos, at=_t(30), reason="request 1")
    assert record.customer_fields == ("attributes", "consents", "email", "name", "phone")
    assert record.contacts == ("k-1",)
    assert sorted(record.activities_redacted) == ["i-1", "r-1", "s-1", "x-1"]
    assert record.activities_kept == 5
    _assert_no_secret(json.dumps(record.to_dict()))
    after = export("c-1", repos)
    _assert_no_secret(json.dumps(after))
    _assert_no_secret(repr(repos.customers.get("c-1")))
    customer = repos.customers.get("c-1")
    assert customer.name == ERASED
    assert is_erased(customer)
    assert not may_contact(customer, "marketing", "email", as_of=_t(40))
    # Money-like history and aggregates stay: same activities, same amounts.
    assert [a["id"] for a in after["activities"]] == [a["id"] for a in before["activities"]]
    assert [a.get("amount") for a in after["activities"]] == [
        a.get("amount") for a in before["activities"]
    ]
    # Others are untouched.
    assert repos.customers.get("c-2").name == "Other Person"
    # Erasing again is harmless.
    again = erase("c-1", repos, at=_t(31))
    assert again.activities_redacted == ()
    assert again.contacts == ()


def test_erase_in_memory_removes_personal_data_and_keeps_history() -> None:
    with Repositories.in_memory() as repos:
        _fill(repos)
        _check_erased(repos)


def test_erased_data_cannot_be_found_in_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite3"
    with SQLiteStore(path) as store:
        _fill(store)
        # Updates leave old row versions around unless the store overwrites them.
        store.customers.update(attrs.evolve(store.customers.get("c-1"), influence="celebrity"))
        _check_erased(store)
        # While the store is still open: the file and its write-ahead log are clean.
        for file in tmp_path.iterdir():
            raw = file.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in raw, f"{secret!r} found in {file.name}"
    for file in tmp_path.iterdir():
        raw = file.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in raw, f"{secret!r} found in {file.name}"
    # The other customer's data is still there (the check above is not vacuous).
    assert b"Other Person" in path.read_bytes()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_erase_refuses_a_log_that_cannot_rewrite_and_changes_nothing() -> None:
    class AppendOnly:
        def __init__(self, inner: object) -> None:
            self._inner = inner

        def for_customer(self, customer_id: str, **kw: object) -> object:
            return self._inner.for_customer(customer_id, **kw)  # type: ignore[attr-defined]

    with Repositories.in_memory() as full:
        _fill(full)
        repos = Repositories(
            customers=full.customers,
            contacts=full.contacts,
            activities=AppendOnly(full.activities),  # type: ignore[arg-type]
        )
        with pytest.raises(ValidationError, match="rewrite"):
            erase("c-1", repos, at=_t(30))
        assert full.customers.get("c-1").name == SECRET_NAME


def test_erase_and_export_of_an_unknown_customer_raise() -> None:
    with Repositories.in_memory() as repos:
        with pytest.raises(NotFoundError):
            erase("nobody", repos, at=T0)
        with pytest.raises(NotFoundError):
            export("nobody", repos)
        with pytest.raises(ValidationError, match="at"):
            erase("nobody", repos, at="1/1/2025")


def test_export_holds_everything_and_round_trips_through_json() -> None:
    with Repositories.in_memory() as repos:
        _fill(repos)
        data = export("c-1", repos, sections={"ledger": lambda cid: [{"points": 5}]})
        text = json.dumps(data)
        back = json.loads(text)
        assert back["customer"]["email"] == SECRET_EMAIL
        assert [c["id"] for c in back["contacts"]] == ["k-1"]
        assert len(back["activities"]) == 5
        assert back["ledger"] == [{"points": 5}]
        with pytest.raises(ValidationError, match="sections"):
            export("c-1", repos, sections={"customer": lambda cid: None})


@settings(max_examples=30)
@given(cks.customers(), st.lists(cks.contacts(), max_size=3))
def test_erasure_leaves_no_personal_value_in_repr_or_export(
    customer: Customer, contacts: list[Contact]
) -> None:
    with Repositories.in_memory() as repos:
        repos.customers.add(customer)
        for i, contact in enumerate(contacts):
            repos.contacts.add(attrs.evolve(contact, id=f"k-{i}", customer_id=customer.id))
        erase(customer.id, repos, at=T0)
        data = export(customer.id, repos)
        erased = repos.customers.get(customer.id)
        for field in personal_fields(Customer):
            value = getattr(erased, field)
            assert value in (None, ERASED) or field == "attributes"
        assert dict(erased.attributes) == {"crmkit_erased_at": T0.isoformat()}
        for contact in data["contacts"]:
            assert contact["name"] == ERASED
            assert contact["email"] is None
            assert contact["phone"] is None
            assert contact["birthday"] is None
        # The export must name the customer; a generated phone such as "0100000" can be
        # part of an id such as "c-0100000", which is not personal data.
        text = json.dumps(data).replace(json.dumps(customer.id), "")
        for original in [customer.email, customer.phone, *(c.email for c in contacts)]:
            if original is not None and len(original) > 6:
                assert original not in text
