"""The domain: bad inputs raise ValidationError naming the field, personal data stays hidden,
the codec round-trips every record type, and errors survive pickling."""

import json
import math
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crmkit as ck
from crmkit.adapters.sqlite import SQLiteStore
from crmkit.domain import (
    ActivityRepository,
    Complaint,
    Consent,
    Contact,
    Customer,
    InMemoryActivityRepository,
    InMemoryContactRepository,
    InMemoryCustomerRepository,
    Interaction,
    Membership,
    Purchase,
    Record,
    Referral,
    Refund,
    SurveyResponse,
    from_record,
    personal_fields,
    to_record,
)
from crmkit.errors import (
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    CrmkitError,
    FrameError,
    MissingColumnError,
    NotFoundError,
    Problem,
    StorageError,
    ValidationError,
)
from crmkit.testing import strategies as cks

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NAIVE = datetime(2025, 1, 1)


def invalid(field: str, make: Callable[[], object]) -> ValidationError:
    """Assert that *make* raises a ValidationError naming *field*, which is also a ValueError."""
    with pytest.raises(ValidationError) as caught:
        make()
    err = caught.value
    assert err.field == field
    assert isinstance(err, ValueError)
    assert isinstance(err, CrmkitError)
    return err


def purchase(**changes: Any) -> Purchase:
    fields: dict[str, Any] = {
        "id": "p-1",
        "customer_id": "c-1",
        "occurred_at": T0,
        "amount": Decimal("10.00"),
        "currency": "EUR",
    }
    return Purchase(**(fields | changes))


def refund(**changes: Any) -> Refund:
    fields: dict[str, Any] = {
        "id": "r-1",
        "customer_id": "c-1",
        "occurred_at": T0,
        "purchase_id": "p-1",
        "amount": Decimal("1"),
        "currency": "EUR",
    }
    return Refund(**(fields | changes))


# ---------------------------------------------------------------- amounts

NOT_AMOUNTS = [
    -1,
    Decimal("-0.01"),
    "-5",
    float("nan"),
    float("inf"),
    float("-inf"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    "nan",
    "Infinity",
    "twelve",
    "",
    True,
    False,
    None,
    [1],
]


@pytest.mark.parametrize("amount", NOT_AMOUNTS, ids=repr)
def test_a_purchase_amount_must_be_a_finite_non_negative_number(amount: object) -> None:
    err = invalid("Purchase.amount", lambda: purchase(amount=amount))
    assert "finite amount >= 0" in str(err)


@pytest.mark.parametrize("amount", [*NOT_AMOUNTS, 0, Decimal("0.00")], ids=repr)
def test_a_refund_amount_must_be_positive(amount: object) -> None:
    invalid("Refund.amount", lambda: refund(amount=amount))


@pytest.mark.parametrize("budget", [-1, float("nan"), float("inf"), True])
def test_a_spending_budget_is_an_amount_too(budget: object) -> None:
    invalid(
        "Customer.spending_budget",
        lambda: Customer(id="c", name="A", created_at=T0, spending_budget=budget),
    )


@given(cks.amounts(max_value=10**12))
def test_any_non_negative_decimal_is_kept_exactly(amount: Decimal) -> None:
    stored = purchase(amount=amount).amount
    assert stored == amount
    assert stored.as_tuple() == amount.as_tuple()  # the scale too


@given(st.decimals(max_value=Decimal("-0.000001"), allow_nan=False, allow_infinity=False))
def test_any_negative_decimal_is_refused(amount: Decimal) -> None:
    invalid("Purchase.amount", lambda: purchase(amount=amount))


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
def test_floats_are_taken_as_written(amount: float) -> None:
    assert purchase(amount=amount).amount == Decimal(repr(amount))


# ---------------------------------------------------------------- enumerations


def test_an_unknown_settlement_method_names_the_choices_and_a_close_match() -> None:
    err = invalid("Purchase.settlement", lambda: purchase(settlement="on_acount"))
    assert err.hint == "did you mean 'on_account'?"
    assert "'prepaid', 'cash', 'on_time', 'on_account'" in str(err)
    err = invalid("Purchase.settlement", lambda: purchase(settlement="barter"))
    assert err.hint is None


def test_enumerations_accept_their_values_in_any_case() -> None:
    assert purchase(settlement=" Cash ").settlement is ck.domain.SettlementMethod.CASH


# ---------------------------------------------------------------- text, email, phone


@pytest.mark.parametrize("name", ["", "   ", "\t\n", 42, None])
def test_a_name_must_be_non_empty_text(name: object) -> None:
    invalid("Customer.name", lambda: Customer(id="c", name=name, created_at=T0))
    invalid("Contact.name", lambda: Contact(id="k", customer_id="c", name=name, role="assistant"))


def test_names_are_trimmed_and_inner_white_space_collapsed() -> None:
    assert Customer(id="c", name="  Ann \t Lee ", created_at=T0).name == "Ann Lee"


@pytest.mark.parametrize(
    "email",
    [
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@@example.com",
        "a b@example.com",
        "ann@-example.com",
        "ann@example.c",
        "x" * 250 + "@example.com",
        42,
    ],
)
def test_a_malformed_email_is_refused(email: object) -> None:
    invalid("Customer.email", lambda: Customer(id="c", name="A", created_at=T0, email=email))
    invalid(
        "Contact.email", lambda: Contact(id="k", customer_id="c", name="A", role="r", email=email)
    )


@given(cks.emails())
def test_emails_are_normalised_to_lower_case_and_idempotently(email: str) -> None:
    shouted = Customer(id="c", name="A", created_at=T0, email=f"  {email.upper()} ").email
    assert shouted == email
    assert Customer(id="c", name="A", created_at=T0, email=shouted).email == shouted


@pytest.mark.parametrize(
    "phone",
    [
        "1234",
        "+1234",
        "12345678901234567",
        "phone",
        "+86 10 ABCD",
        "",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        12345,
    ],
)
def test_a_malformed_phone_is_refused(phone: object) -> None:
    invalid("Customer.phone", lambda: Customer(id="c", name="A", created_at=T0, phone=phone))
    invalid(
        "Contact.phone", lambda: Contact(id="k", customer_id="c", name="A", role="r", phone=phone)
    )


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("+86 (10) 1234-5678", "+861012345678"),
        ("0086 10 1234 5678", "+861012345678"),
        ("030.1234/5", "03012345"),
    ],
)
def test_phones_lose_their_separators(raw: str, normalised: str) -> None:
    assert Customer(id="c", name="A", created_at=T0, phone=raw).phone == normalised


# ---------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "bad_id",
    ["", " c-1", "c-1 ", "c\x001", "c\n1", "c\ud8001", "x" * 201, 7, None, b"c-1"],
    ids=repr,
)
def test_an_id_must_be_trimmed_storable_text(bad_id: object) -> None:
    invalid("Customer.id", lambda: Customer(id=bad_id, name="A", created_at=T0))
    invalid("Purchase.customer_id", lambda: purchase(customer_id=bad_id))


@given(cks.ids())
def test_generated_ids_are_accepted_unchanged(any_id: str) -> None:
    assert Customer(id=any_id, name="A", created_at=T0).id == any_id


# ---------------------------------------------------------------- time


def test_every_timestamp_field_refuses_naive_datetimes() -> None:
    cases: dict[str, Callable[[], object]] = {
        "Customer.created_at": lambda: Customer(id="c", name="A", created_at=NAIVE),
        "Contact.birthday": lambda: Contact(
            id="k", customer_id="c", name="A", role="r", birthday=NAIVE
        ),
        "Consent.at": lambda: Consent(purpose="marketing", channel="email", granted=True, at=NAIVE),
        "Membership.since": lambda: Membership(since=NAIVE, tier="gold"),
        "Purchase.occurred_at": lambda: purchase(occurred_at=NAIVE),
        "Refund.occurred_at": lambda: refund(occurred_at=NAIVE),
        "Complaint.resolved_at": lambda: Complaint(
            id="x",
            customer_id="c",
            occurred_at=T0,
            severity="low",
            status="resolved",
            resolved_at=NAIVE,
        ),
        "SurveyResponse.occurred_at": lambda: SurveyResponse(
            id="s", customer_id="c", occurred_at=NAIVE, scale="csat", score=3
        ),
    }
    for field, make in cases.items():
        err = invalid(field, make)
        assert err.hint is not None
        assert "naive" in err.hint


def test_a_date_is_not_a_timestamp() -> None:
    err = invalid("Purchase.occurred_at", lambda: purchase(occurred_at=T0.date()))
    assert err.hint is not None
    assert "date is not a timestamp" in err.hint


def test_a_time_outside_the_utc_calendar_is_refused() -> None:
    east = timezone(timedelta(hours=5))
    invalid("Purchase.occurred_at", lambda: purchase(occurred_at=datetime(1, 1, 1, tzinfo=east)))


@given(cks.aware_datetimes())
def test_aware_times_in_any_zone_are_stored_in_utc_at_the_same_instant(at: datetime) -> None:
    stored = purchase(occurred_at=at).occurred_at
    assert stored == at
    assert stored.tzinfo is UTC


# ---------------------------------------------------------------- cross-field rules


def test_a_payer_cannot_be_a_guest_of_their_own_purchase() -> None:
    err = invalid("Purchase.guests", lambda: purchase(guests={"c-1", "c-2"}))
    assert err.hint is not None
    assert "'c-1' pays" in err.hint


def test_a_company_customer_belongs_to_no_company() -> None:
    invalid(
        "Customer.company_id",
        lambda: Customer(id="co-1", name="ACME", created_at=T0, kind="company", company_id="co-2"),
    )
    invalid(
        "Customer.company_id",
        lambda: Customer(id="c-1", name="Ann", created_at=T0, company_id="c-1"),
    )
    assert Customer(id="c-1", name="Ann", created_at=T0, company_id="co-1").company_id == "co-1"


@given(st.sampled_from(ck.domain.SurveyScale), st.integers(-100, 100))
def test_a_survey_score_must_lie_on_its_scale(scale: ck.domain.SurveyScale, score: int) -> None:
    low, high = scale.bounds

    def make() -> SurveyResponse:
        return SurveyResponse(id="s", customer_id="c", occurred_at=T0, scale=scale, score=score)

    if low <= score <= high:
        assert make().score == score
    else:
        err = invalid("SurveyResponse.score", make)
        assert f"from {low} to {high}" in str(err)


@pytest.mark.parametrize("score", [True, 3.0, "3", None])
def test_a_survey_score_is_an_integer(score: object) -> None:
    invalid(
        "SurveyResponse.score",
        lambda: SurveyResponse(id="s", customer_id="c", occurred_at=T0, scale="csat", score=score),
    )


def complaint(**changes: Any) -> Complaint:
    fields: dict[str, Any] = {"id": "x", "customer_id": "c", "occurred_at": T0, "severity": "high"}
    return Complaint(**(fields | changes))


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_a_finished_complaint_needs_a_resolution_time_not_before_it_was_opened(status: str) -> None:
    invalid("Complaint.resolved_at", lambda: complaint(status=status))
    invalid(
        "Complaint.resolved_at",
        lambda: complaint(status=status, resolved_at=T0 - timedelta(seconds=1)),
    )
    assert complaint(status=status, resolved_at=T0).resolved_at == T0


@pytest.mark.parametrize("status", ["open", "in_progress"])
def test_an_unfinished_complaint_has_no_resolution_time(status: str) -> None:
    invalid("Complaint.resolved_at", lambda: complaint(status=status, resolved_at=T0))
    assert complaint(status=status).resolved_at is None


def test_a_referrer_cannot_refer_themselves() -> None:
    invalid(
        "Referral.referred_id",
        lambda: Referral(id="f", customer_id="c", occurred_at=T0, referred_id="c"),
    )


@pytest.mark.parametrize(
    "share", [-0.1, 1.01, float("nan"), Decimal("sNaN"), Decimal("NaN"), True, "0.5"]
)
def test_a_share_of_wallet_is_a_number_between_0_and_1(share: object) -> None:
    invalid(
        "Customer.share_of_wallet",
        lambda: Customer(id="c", name="A", created_at=T0, share_of_wallet=share),
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1], {"a": 1}])
def test_profile_attributes_are_json_scalars(value: object) -> None:
    invalid(
        "Customer.attributes['x']",
        lambda: Customer(id="c", name="A", created_at=T0, attributes={"x": value}),
    )


@pytest.mark.parametrize("currency", ["EU", "EURO", "€UR", "12A", 978, None])
def test_a_currency_is_a_three_letter_code(currency: object) -> None:
    invalid("Purchase.currency", lambda: purchase(currency=currency))


# ---------------------------------------------------------------- refunds through repositories


@pytest.fixture(params=["memory", "sqlite"])
def activity_log(request: pytest.FixtureRequest) -> Iterator[ActivityRepository]:
    if request.param == "memory":
        yield InMemoryActivityRepository()
    else:
        with SQLiteStore(":memory:") as store:
            yield store.activities


def test_a_refund_larger_than_the_purchase_is_refused(activity_log: ActivityRepository) -> None:
    activity_log.append(purchase(amount="10.00"))
    err = invalid("Refund.amount", lambda: activity_log.append(refund(amount="10.01")))
    assert "at most 10.00" in str(err)
    assert activity_log.append(refund(amount="10.00")) is True
    invalid("Refund.amount", lambda: activity_log.append(refund(id="r-2", amount="0.01")))
    assert [a.id for a in activity_log.for_customer("c-1")] == ["p-1", "r-1"]


def test_repositories_refuse_what_is_not_theirs(activity_log: ActivityRepository) -> None:
    ann = Customer(id="c-1", name="Ann", created_at=T0)
    invalid("activity", lambda: activity_log.append(ann))  # type: ignore[arg-type]
    invalid("activity", lambda: activity_log.append_many([purchase(), ann]))  # type: ignore[list-item]
    assert list(activity_log.iter_batches()) == []
    invalid("customer", lambda: InMemoryCustomerRepository().add(purchase()))  # type: ignore[arg-type]
    invalid("contact", lambda: InMemoryContactRepository().update(ann))  # type: ignore[arg-type]


def test_a_bad_batch_size_is_refused_at_the_call(activity_log: ActivityRepository) -> None:
    invalid("batch_size", lambda: activity_log.iter_batches(batch_size=0))
    invalid("batch_size", lambda: InMemoryCustomerRepository().iter_all(batch_size=-1))


# ---------------------------------------------------------------- personal data

MARK = "Qzv7"  # never produced by the other parts of a record's repr


def test_personal_fields_are_declared() -> None:
    assert personal_fields(Customer) == {"name", "email", "phone", "attributes"}
    assert personal_fields(Contact) == {"name", "email", "phone", "birthday"}
    assert personal_fields(Purchase) == frozenset()
    assert personal_fields(Refund) == {"reason"}
    assert personal_fields(Complaint) == {"topic"}
    assert personal_fields(Interaction) == {"topic"}
    assert personal_fields(SurveyResponse) == {"comment"}


@given(cks.customers(), cks.contacts(), cks.texts(max_size=20))
def test_personal_data_never_appears_in_repr(
    customer: Customer, contact: Contact, extra: str
) -> None:
    name = f"{MARK} {extra}"
    email = f"{MARK.lower()}@example.com"
    phone = "+4917655501234"
    for record in (
        attrs.evolve(customer, name=name, email=email, phone=phone),
        attrs.evolve(contact, name=name, email=email, phone=phone),
    ):
        shown = repr(record)
        assert MARK not in shown
        assert MARK.lower() not in shown
        assert "17655501234" not in shown
        assert "<withheld>" in shown


@given(cks.texts(max_size=20))
def test_personal_data_never_appears_in_error_messages(extra: str) -> None:
    secret = f"{MARK}{extra}"
    attempts: list[tuple[str, Callable[[], object]]] = [
        ("Customer.email", lambda: Customer(id="c", name="A", created_at=T0, email=f"{secret}@")),
        (
            "Customer.phone",
            lambda: Customer(id="c", name="A", created_at=T0, phone=f"{secret}12345"),
        ),
        ("Customer.name", lambda: Customer(id="c", name=(secret + " ") * 120, created_at=T0)),
        (
            "Contact.email",
            lambda: Contact(id="k", customer_id="c", name="A", role="r", email=secret),
        ),
        (
            "Contact.name",
            lambda: Contact(id="k", customer_id="c", name=(secret + " ") * 120, role="r"),
        ),
    ]
    for field, make in attempts:
        err = invalid(field, make)
        for text in (str(err), repr(err), str(err.got), " ".join(map(str, err.args))):
            assert MARK not in text
            assert secret not in text  # (a fragment of `extra` alone may occur by chance)
        assert "personal data withheld" in str(err)


# ---------------------------------------------------------------- codec


RECORD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "customer": cks.customers(),
    "contact": cks.contacts(),
    "consent": cks.consents(),
    "membership": cks.memberships(),
    "purchase": cks.purchases(),
    "refund": cks.refunds(),
    "complaint": cks.complaints(),
    "referral": cks.referrals(),
    "interaction": cks.interactions(),
    "survey_response": cks.survey_responses(),
    "loyalty_entry": cks.ledger_entries(),  # registered by crmkit.loyalty
    "lifecycle_transition": cks.lifecycle_transitions(),  # registered by crmkit.lifecycle
}


def test_every_record_type_has_a_strategy() -> None:
    from crmkit.domain._codec import RECORD_TYPES

    assert set(RECORD_STRATEGIES) == set(RECORD_TYPES)


@pytest.mark.parametrize("type_name", sorted(RECORD_STRATEGIES))
def test_every_record_round_trips_through_json(type_name: str) -> None:
    @given(RECORD_STRATEGIES[type_name])
    def check(record: Record) -> None:
        encoded = to_record(record)
        assert encoded["type"] == type_name
        text = json.dumps(encoded)  # plain JSON: no NaN, no Decimal, no datetime objects
        decoded = from_record(json.loads(text))
        assert decoded == record
        assert type(decoded) is type(record)
        assert json.dumps(to_record(decoded)) == text

    check()


def test_the_codec_refuses_unknown_types_and_fields() -> None:
    err = invalid("record.type", lambda: from_record({"type": "invoice"}))
    assert "purchase" in str(err)
    invalid("record.type", lambda: from_record({"id": "p"}))
    data = to_record(purchase()) | {"discount": "5"}
    err = invalid("Purchase record", lambda: from_record(data))
    assert "discount" in str(err)


def test_the_codec_validates_what_it_reads() -> None:
    data = to_record(purchase()) | {"amount": "-1"}
    invalid("Purchase.amount", lambda: from_record(data))


# ---------------------------------------------------------------- errors


ERRORS: list[CrmkitError] = [
    CrmkitError("bad thing", expected="a good thing", got="'bad'", hint="try again"),
    ValidationError("Purchase.amount", expected="an amount >= 0", got=Decimal("-1"), hint="h"),
    ValidationError("Customer.email", expected="an email", got="ann@", personal=True),
    NotFoundError("customer", "c-1"),
    AlreadyExistsError("activity", "p-1", hint="use a new id"),
    ConflictError("customer", "c-1", expected_version=1, actual_version=2),
    StorageError("the database cannot be used", got="disk I/O error"),
    FrameError("bad amounts", column="amount", rows=[3, 5], expected="numbers", got="text"),
    MissingColumnError(["amuont"], ["amount", "date"]),
    ConfigError(
        [Problem(where="f", message="unknown name 'x'", position=4, source="1 + x")],
        source="v.toml",
    ),
]


@pytest.mark.parametrize("err", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling_with_their_attributes(err: CrmkitError) -> None:
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is type(err)
    assert str(again) == str(err)
    assert again.args == err.args
    assert vars(again) == vars(err)
    assert type(err).__module__ == "crmkit.errors"


def test_errors_are_also_the_builtins_that_fit() -> None:
    assert isinstance(NotFoundError("customer", "c"), KeyError)
    assert isinstance(AlreadyExistsError("customer", "c"), ValueError)
    assert isinstance(
        ConflictError("customer", "c", expected_version=0, actual_version=1), RuntimeError
    )
    assert isinstance(StorageError("x"), RuntimeError)
    assert isinstance(MissingColumnError(["a"], []), KeyError)
    assert isinstance(MissingColumnError(["a"], []), FrameError)


def test_importing_crmkit_does_not_import_the_test_kit() -> None:
    code = (
        "import sys, crmkit; "
        "loaded = [m for m in ('crmkit.testing', 'hypothesis', 'pytest', 'crmkit.adapters.sqlite', "
        "'matplotlib', 'tqdm', 'crmkit.adapters.plots', 'crmkit.adapters.files') "
        "if m in sys.modules]; "
        "print(loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_float_nan_never_reaches_a_record() -> None:
    with pytest.raises(ValidationError):
        Customer(id="c", name="A", created_at=T0, share_of_wallet=math.nan)
    interaction = Interaction(
        id="i", customer_id="c", occurred_at=T0, channel="web", direction="inbound"
    )
    assert "NaN" not in json.dumps(to_record(interaction))
