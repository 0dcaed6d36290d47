"""``crmkit demo``: a synthetic customer base through SQLite, read back and summarised."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from crmkit._synthetic import synthetic_base
from crmkit._text import table
from crmkit.adapters.sqlite import SQLiteStore
from crmkit.domain import (
    Activity,
    Complaint,
    Contact,
    Customer,
    CustomerKind,
    Purchase,
    Referral,
    Refund,
)
from crmkit.scoring import ValueModel, activity_frames, features_one, profile_frame

__all__ = ["run_demo"]

_table = table


def run_demo(*, folder: Path, seed: int, out: TextIO) -> None:
    """Build the demo base in ``folder/demo.sqlite``, read it back, print a summary."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)

    base = synthetic_base(seed=seed)
    with SQLiteStore(path) as store:
        for customer in base.customers:
            store.customers.add(customer)
        for contact in base.contacts:
            store.contacts.add(contact)
        store.activities.append_many(base.activities)

    # Read everything back through a fresh connection, as an application would.
    with SQLiteStore(path) as store:
        customers = [c for batch in store.customers.iter_all() for c in batch]
        contacts = {c.id: store.contacts.for_customer(c.id) for c in customers}
        activities = [a for batch in store.activities.iter_batches() for a in batch]

    _print_summary(out, path, base.as_of.date().isoformat(), customers, contacts, activities)
    _print_scores(out, base.as_of, customers, activities)


def _print_summary(
    out: TextIO,
    path: Path,
    as_of: str,
    customers: list[Customer],
    contacts: dict[str, list[Contact]],
    activities: list[Activity],
) -> None:
    def say(text: str = "") -> None:
        print(text, file=out)

    by_id = {c.id: c for c in customers}
    kinds = Counter(type(a).type_name for a in activities)
    say(f"crmkit demo: a synthetic customer base stored in {path} (as of {as_of})")
    say()
    say(
        _table(
            [
                ("customers", len(customers)),
                ("  companies", sum(c.kind is CustomerKind.COMPANY for c in customers)),
                (
                    "  individuals on a company's staff",
                    sum(c.company_id is not None for c in customers),
                ),
                ("  members of the loyalty programme", sum(c.is_member for c in customers)),
                ("contacts", sum(len(v) for v in contacts.values())),
                *sorted(kinds.items()),
            ],
            header=["records read back", "count"],
        )
    )

    net: defaultdict[str, Decimal] = defaultdict(Decimal)
    for a in activities:
        if isinstance(a, Purchase):
            net[a.customer_id] += a.amount
        elif isinstance(a, Refund):
            net[a.customer_id] -= a.amount
    say()
    say("Companies, their staff and their contacts")
    staff = Counter(c.company_id for c in customers if c.company_id)
    say(
        _table(
            [
                (
                    c.id,
                    c.name,
                    staff[c.id],
                    ", ".join(k.role for k in contacts[c.id]) or "-",
                    f"{net[c.id]:,.2f}",
                    f"{sum(net[s.id] for s in customers if s.company_id == c.id):,.2f}",
                )
                for c in customers
                if c.kind is CustomerKind.COMPANY
            ],
            header=["id", "company", "staff", "contacts", "own spend", "staff spend"],
        )
    )

    say()
    say("Top customers by net spend (purchases less refunds)")
    say(
        _table(
            [
                (cid, by_id[cid].name, by_id[cid].kind.value, f"{v:,.2f}")
                for cid, v in sorted(net.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            ],
            header=["id", "name", "kind", "net spend (CNY)"],
        )
    )

    hosted = [a for a in activities if isinstance(a, Purchase) and a.guests]
    complaints = Counter(a.severity.value for a in activities if isinstance(a, Complaint))
    referrals = [a for a in activities if isinstance(a, Referral)]
    say()
    say(
        f"Hosted purchases: {len(hosted)}, treating "
        f"{len({g for p in hosted for g in p.guests})} distinct guests."
    )
    if hosted:
        p = max(hosted, key=lambda h: (len(h.guests), h.amount))
        guests = ", ".join(by_id[g].name for g in sorted(p.guests) if g in by_id)
        say(
            f"  e.g. {p.id}: {by_id[p.customer_id].name} paid {p.amount} {p.currency} "
            f"on {p.occurred_at.date()} for {guests}"
        )
    say(
        "Complaints by severity: "
        + ", ".join(f"{s} {complaints[s]}" for s in ("low", "medium", "high", "critical"))
    )
    if referrals:
        r = referrals[0]
        say(
            f"Referrals: {len(referrals)}, e.g. {by_id[r.customer_id].name} brought "
            f"{by_id[r.referred_id].name} on {r.occurred_at.date()}"
        )


def _print_scores(
    out: TextIO, as_of: datetime, customers: list[Customer], activities: list[Activity]
) -> None:
    """Features and composite value for everyone (columnar), and one customer (scalar)."""

    def say(text: str = "") -> None:
        print(text, file=out)

    model = ValueModel.default()
    profiles = profile_frame(customers)
    feats = activity_frames(activities).features(as_of=as_of).join(profiles, how="left")
    scored = model.score(feats).join(profiles[["kind"]]).sort_values("value", ascending=False)
    names = {c.id: c.name for c in customers}
    parts = [f"value_{c.name}" for c in model.components]
    say()
    say(f"Composite value as of {as_of.date()} (model {model.name}, version {model.version})")
    say(
        _table(
            [
                (
                    cid,
                    names[str(cid)],
                    row["kind"],
                    f"{row['value']:.1f}",
                    *(f"{row[p]:.1f}" for p in parts),
                )
                for cid, row in scored.head(8).iterrows()
            ],
            header=["id", "name", "kind", "value", *(c.name for c in model.components)],
        )
    )
    quantiles = scored["value"].quantile([0.25, 0.5, 0.75]).round(1).tolist()
    say(f"Value quartiles over {len(scored)} customers: {quantiles}")

    # The same score for one customer, from entities, as an app computes it in a request.
    top = str(scored.index[0])
    mine = [a for a in activities if a.customer_id == top]
    values: dict[str, object] = {
        **features_one(mine, as_of=as_of),
        **{str(k): v for k, v in profiles.loc[top].items()},
    }
    score = model.score_one(values)
    say()
    say(f"Why {names[top]} ({top}) is on top, scored one customer at a time:")
    say(score.explain())
