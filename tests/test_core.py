"""The shared ground floor: one time rule, one frame boundary, one definition loader."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

import crmkit as ck
from crmkit.core import parse_as_of, parse_iso, to_instant, to_utc
from crmkit.errors import ConfigError, ValidationError
from crmkit.lifecycle import Lifecycle
from crmkit.loyalty import EarningRules

RULES = EarningRules.from_dict(
    {
        "base": {"unit": 10.0, "points_per_unit": 1},
        "campaigns": [{"name": "spring", "start": "2025-03-01", "end": "2025-04-01", "bonus": "5"}],
    }
)


# ---------------------------------------------------------------- time


@pytest.mark.parametrize("text", ["01/07/1998", "7.1.1998", "Jan 7 1998", "1998/07/01", "tomorrow"])
def test_only_iso_8601_text_is_read_everywhere(text: str) -> None:
    tx = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": pd.to_datetime(["1998-01-01"]), "amount": [1.0]}
    )
    calls = [
        lambda: parse_as_of(text),
        lambda: to_instant(text, field="at"),
        lambda: to_utc("occurred_at", text),
        lambda: ck.features(tx, as_of=text),
        lambda: RULES.points(95.0, at=text),
        lambda: Lifecycle.five_stage().step("growth", {}, at=text),
    ]
    for call in calls:
        with pytest.raises(ValidationError, match="ISO 8601"):
            call()
    with pytest.raises(ConfigError, match="campaigns"):
        EarningRules.from_dict(
            {"campaigns": [{"name": "x", "start": text, "end": "2025-04-01", "bonus": "1"}]}
        )


def test_iso_forms_that_are_read() -> None:
    assert parse_iso("19980701", field="x") == datetime(1998, 7, 1)
    assert parse_iso("1998-07", field="x") == datetime(1998, 7, 1)
    assert parse_iso("1998-07-01T10:00Z", field="x") == datetime(1998, 7, 1, 10, tzinfo=UTC)


def test_the_as_of_rule_holds_for_every_argument_that_names_a_time() -> None:
    # A campaign bound written as a date loads, and a date-only `at` is read by the same rule.
    assert RULES.points(95.0, at="2025-03-05") == RULES.points(
        95.0, at=datetime(2025, 3, 5, tzinfo=UTC)
    )
    assert RULES.points(95.0, at=date(2025, 3, 5)) == RULES.points(95.0, at="2025-03-05T00:00Z")
    assert RULES.points(95.0, at=datetime(2025, 3, 5)) == RULES.points(95.0, at="2025-03-05")
    assert RULES.points(95.0, at="2025-03-05")["campaign:spring"] == 5  # inside the campaign
    assert "campaign:spring" not in RULES.points(95.0, at="2025-04-05")
    for value in ("2025-03-05", date(2025, 3, 5), datetime(2025, 3, 5), pd.Timestamp("2025-03-05")):
        assert to_instant(value, field="at") == datetime(2025, 3, 5, tzinfo=UTC)
        assert parse_as_of(value) == pd.Timestamp("2025-03-05", tz="UTC")


def test_recorded_facts_must_carry_a_zone() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        to_utc("occurred_at", datetime(2025, 3, 5))
    with pytest.raises(ValidationError, match="timezone-aware"):
        to_utc("occurred_at", "2025-03-05")
    assert to_utc("occurred_at", "2025-03-05T08:00+08:00") == datetime(2025, 3, 5, tzinfo=UTC)
