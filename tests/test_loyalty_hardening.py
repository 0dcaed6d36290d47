"""Hostile inputs to the loyalty layer and the records it stores (issue 15).

The record codec reads back every record type ``to_record`` writes, ledger
entries and lifecycle transitions included, and names missing fields; SQLite
ledger and coupon repositories accept a path; the points bound holds on the
SQLite file itself (its cached balances never leave the fold, even where a
sum would pass 2**63).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.adapters.sqlite import SQLiteCouponRepository, SQLiteLedgerRepository, SQLiteStore
from crmkit.core import ConflictError, CrmkitError, ValidationError
from crmkit.domain import from_record, to_record
from crmkit.lifecycle import LifecycleTransition
from crmkit.loyalty import (
    MAX_POINTS,
    Ledger,
    LedgerEntry,
    entry_from_record,
)
from crmkit.testing import check_ledger
from crmkit.testing import strategies as cks

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(st.one_of(cks.ledger_entries(), cks.lifecycle_transitions()))
def test_from_record_reads_back_ledger_entries_and_lifecycle_transitions(
    record: LedgerEntry | LifecycleTransition,
) -> None:
    text = json.dumps(to_record(record))
    assert from_record(json.loads(text)) == record
    if isinstance(record, LedgerEntry):
        assert entry_from_record(json.loads(text)) == record


@pytest.mark.parametrize("type_name", ["purchase", "loyalty_entry", "lifecycle_transition"])
def test_from_record_with_missing_fields_names_them(type_name: str) -> None:
    data = {
        "purchase": {"type": "purchase", "id": "p-1", "amount": "1"},
        "loyalty_entry": {"type": "loyalty_entry", "customer_id": "c-1", "points": 3},
        "lifecycle_transition": {"type": "lifecycle_transition", "customer_id": "c-1"},
    }[type_name]
    with pytest.raises(ValidationError) as info:
        from_record(data)
    assert info.value.field.endswith(" record")
    assert "missing" in str(info.value.expected)
    assert not isinstance(info.value, TypeError)
    if type_name == "loyalty_entry":
        with pytest.raises(ValidationError):
            entry_from_record(data)


def test_the_ledger_and_coupon_repositories_take_a_path(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    with SQLiteLedgerRepository(path) as repo:  # a path: the repository opens (and closes) it
        Ledger(repo).earn("c-1", 5, at=T0, source_kind="purchase", source_id="p-1")
    coupons = SQLiteCouponRepository(str(path))
    assert coupons.for_entry("nothing") is None
    coupons.close()
    with SQLiteLedgerRepository(str(path)) as again:
        assert again.balance("c-1") == 5
    for wrong in (42, None, object()):
        with pytest.raises(ValidationError) as info:
            SQLiteLedgerRepository(wrong)  # type: ignore[arg-type]
        assert info.value.field == "store"
        with pytest.raises(ValidationError):
            SQLiteCouponRepository(wrong)  # type: ignore[arg-type]


def test_sqlite_balances_never_leave_the_fold_near_2_to_the_63(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "big.sqlite3") as store:
        repo = SQLiteLedgerRepository(store)
        ledger = Ledger(repo)
        with pytest.raises(ValidationError):  # not a bare OverflowError from sqlite3
            ledger.earn("c-1", 10**30, at=T0, source_kind="purchase", source_id="p-0")
        with pytest.raises(ValidationError):
            ledger.adjust("c-1", -(10**30), at=T0, source_kind="staff", source_id="s-0")
        with pytest.raises(CrmkitError):  # a ready-made entry cannot carry it either
            LedgerEntry(
                customer_id="c-1",
                kind="earn",
                points=2**63,
                at=T0,
                source_kind="purchase",
                source_id="p-0",
            )
        awards = [
            LedgerEntry(
                customer_id="c-1",
                kind="earn",
                points=MAX_POINTS,
                at=T0,
                source_kind="purchase",
                source_id=f"p-{i}",
            )
            for i in range(9300)  # 9300 * 10**15 > 2**63: the sum would overflow int64
        ]
        with pytest.raises(ValidationError) as info:
            ledger.post_many(awards, chunk_size=5000)
        assert info.value.field == "LedgerEntry.points"
        assert len(repo) == 0  # the chunk was refused whole
        ledger.post(awards[:1])
        with pytest.raises(ValidationError):
            ledger.post(awards[1:3])
        assert repo.balance("c-1") == MAX_POINTS
        check_ledger(repo, ["c-1"])


def test_a_reused_key_conflicts_on_sqlite_and_the_second_customer_is_told(tmp_path: Path) -> None:
    with SQLiteLedgerRepository(tmp_path / "k.sqlite3") as repo:
        ledger = Ledger(repo)
        first = ledger.earn(
            "c-1", 10, at=T0, source_kind="purchase", source_id="p-1", amount=Decimal("9.50")
        )
        with pytest.raises(ConflictError) as info:
            ledger.earn(
                "c-2", 10, at=T0, source_kind="purchase", source_id="p-1", amount=Decimal("9.50")
            )
        assert info.value.key == first.key
        assert "c-1" in str(info.value.expected)
        assert "c-2" in str(info.value.got)
        later = attrs.evolve(first, at=T0 + timedelta(hours=1))  # same award, another time
        assert ledger.post([later]) == [first]
        assert repo.balance("c-2") == 0
