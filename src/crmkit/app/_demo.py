"""``crmkit demo``: a synthetic customer base through SQLite, read back and summarised."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from crmkit.adapters.sqlite import SQLiteStore
from crmkit.app._synthetic import synthetic_base
from crmkit.app._text import table
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
from crmkit.lifecycle import Lifecycle
from crmkit.loyalty import EarningRules, TierTable
from crmkit.scoring import ValueModel, activity_frames, features_one, profile_frame
from crmkit.segmentation import RFM, SegmentRules, guest_purchases

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
    scored = _print_scores(out, base.as_of, customers, activities)
    report = _Report(folder / "report")
    report.figure("value-distribution", "Value distribution", "value_distribution", scored["value"])
    _print_segments(out, report, base.as_of, customers, activities, scored)
    _print_stages(out, report, base.as_of, activities)
    with SQLiteStore(path) as store:
        _print_points(out, report, store, base.as_of, customers, activities, scored)
    index = report.write(title=f"crmkit demo report (as of {base.as_of.date()})")
    print(f"\nReport: {index}", file=out)


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
) -> pd.DataFrame:
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
    for rank, cid in enumerate(scored.index[1:3], start=2):
        mine = [a for a in activities if a.customer_id == cid]
        one = model.score_one(
            {
                **features_one(mine, as_of=as_of),
                **{str(k): v for k, v in profiles.loc[cid].items()},
            }
        )
        shares = {c.name: one.contributions[c.name] or 0.0 for c in model.components}
        parts_text = ", ".join(
            f"{n} {v:.1f}" for n, v in sorted(shares.items(), key=lambda kv: -kv[1])[:3]
        )
        say(f"#{rank} {names[str(cid)]} ({cid}): value {one.value:.1f}, mostly {parts_text}")
    return scored.join(feats[[c for c in feats.columns if c not in scored.columns]])


# ---------------------------------------------------------------- the rest of the job


class _Report:
    """The demo's report folder: ``index.html`` with the plots embedded as base64 PNG.

    Without matplotlib (the ``plot`` extra) the report holds the tables only.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sections: list[str] = []
        try:
            from crmkit.adapters import plots
        except ImportError:  # pragma: no cover - plots needs only numpy/pandas to import
            self._plots: Any = None
        else:
            self._plots = plots
        import importlib.util

        self.can_plot = importlib.util.find_spec("matplotlib") is not None

    def figure(self, name: str, title: str, function: str, *args: Any, **kwargs: Any) -> None:
        import base64
        import html

        if not self.can_plot:
            return
        fig = getattr(self._plots, function)(*args, **kwargs)
        png = base64.b64encode(self._plots.to_png(fig, dpi=80)).decode("ascii")
        self.sections.append(
            f'<figure id="{name}"><img alt="{html.escape(title)}" '
            f'src="data:image/png;base64,{png}"><figcaption>{html.escape(title)}</figcaption>'
            "</figure>"
        )

    def table(self, title: str, text: str) -> None:
        import html

        self.sections.append(f"<h2>{html.escape(title)}</h2><pre>{html.escape(text)}</pre>")

    def write(self, *, title: str) -> Path:
        import html

        self.folder.mkdir(parents=True, exist_ok=True)
        note = (
            ""
            if self.can_plot
            else "<p>Install the <code>plot</code> extra (matplotlib) for the plots.</p>"
        )
        page = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
            "pre{background:#f6f6f6;padding:.5rem;overflow-x:auto}"
            "figure{display:inline-block;margin:.5rem}img{max-width:100%}"
            f"</style></head><body><h1>{html.escape(title)}</h1>{note}"
            + "\n".join(self.sections)
            + "</body></html>\n"
        )
        index = self.folder / "index.html"
        index.write_text(page, encoding="utf-8")
        return index


def _say(out: TextIO, report: _Report, title: str, text: str) -> None:
    print(f"\n{title}\n{text}", file=out)
    report.table(title, text)


def _print_segments(
    out: TextIO,
    report: _Report,
    as_of: datetime,
    customers: list[Customer],
    activities: list[Activity],
    scored: pd.DataFrame,
) -> None:
    """Positioning segments (multi-label), value tiers and RFM (exclusive), as a notebook would."""
    frame = scored.join(guest_purchases(activities, as_of=as_of).rename("guest_purchases"))
    frame["guest_purchases"] = frame["guest_purchases"].fillna(0.0)
    positioning = SegmentRules.positioning().fit(frame).assign(frame)
    tiers = SegmentRules.value_tiers().fit(frame).assign(frame)
    rfm = RFM().fit(frame).score(frame)
    held = positioning.drop(columns=["segments"]).sum()
    rows = [(name, int(n)) for name, n in held.items()]
    rows += [(f"value tier {k}", int(v)) for k, v in tiers["segment"].value_counts().items()]
    _say(
        out,
        report,
        f"Segments as of {as_of.date()} (positioning: a customer may hold several)",
        table(rows, header=["segment", "customers"]),
    )
    counts = rfm["rfm_segment"].value_counts()
    _say(
        out,
        report,
        "RFM segments (recency, frequency, monetary quintiles)",
        table([(k, int(v)) for k, v in counts.items()], header=["RFM segment", "customers"]),
    )
    report.figure("segment-sizes", "Positioning segments", "segment_sizes", positioning["segments"])
    report.figure("rfm-grid", "RFM grid: customers", "rfm_grid", rfm)
    report.figure(
        "rfm-grid-value",
        "RFM grid: mean value",
        "rfm_grid",
        rfm.join(scored["value"]),
        value="value",
    )


def _print_stages(
    out: TextIO, report: _Report, as_of: datetime, activities: list[Activity]
) -> None:
    """Lifecycle stages replayed month by month over the two years of purchases."""
    lifecycle = Lifecycle.five_stage()
    tx = activity_frames(activities).transactions
    first = pd.Timestamp(tx["occurred_at"].min()).strftime("%Y-%m")
    last = pd.Timestamp(as_of).tz_convert(None).to_period("M") - 1
    replay = lifecycle.replay(tx, start=first, end=str(last))
    counts = replay.counts()
    quarterly = counts[[p.month % 3 == 0 for p in counts.index]]
    _say(
        out,
        report,
        f"Lifecycle stages at each quarter's end ({lifecycle.name})",
        table(
            [(str(p), *(int(x) for x in row)) for p, row in quarterly.iterrows()],
            header=["quarter end", *lifecycle.states],
        ),
    )
    moves = replay.transitions
    year = moves[moves["period"] > last - 12]
    pairs = year.groupby(["from_stage", "to_stage"], observed=True).size()
    pairs = pairs[pairs > 0].sort_values(ascending=False)
    _say(
        out,
        report,
        "Stage changes over the last twelve months",
        table(
            [(*key, int(n)) for key, n in pairs.items() if isinstance(key, tuple)],
            header=["from", "to", "customers"],
        ),
    )
    report.figure("stage-counts", "Customers by stage, month by month", "stage_counts", counts)
    report.figure(
        "transition-heatmap", "Stage changes, last twelve months", "transition_heatmap", year
    )


_PROGRAMME = {
    "rounding": "floor",
    "expires_after_days": 730,
    "base": {"unit": 10.0, "points_per_unit": 1},
    "tier_multipliers": {"silver": 1.25, "gold": 1.5},
    "referral": {"referrer": 500, "referred": 200},
}
_TIERS = {
    "measure": "points",
    "window_days": 365,
    "evaluation_months": 12,
    "grace_days": 30,
    "tiers": [
        {"name": "member", "threshold": 0},
        {"name": "silver", "threshold": 250},
        {"name": "gold", "threshold": 800},
    ],
}


def _print_points(
    out: TextIO,
    report: _Report,
    store: SQLiteStore,
    as_of: datetime,
    customers: list[Customer],
    activities: list[Activity],
    scored: pd.DataFrame,
) -> None:
    """Points for every member's purchases in the SQLite ledger, then tiers from the ledger."""
    from crmkit.adapters.sqlite import SQLiteLedgerRepository

    rules = EarningRules.from_dict(_PROGRAMME)
    tiers = TierTable.from_dict(_TIERS)
    ledger = rules.ledger(SQLiteLedgerRepository(store))
    members = {c.id for c in customers if c.is_member}
    referrer = {a.referred_id: a.customer_id for a in activities if isinstance(a, Referral)}
    purchases = sorted(
        (a for a in activities if isinstance(a, Purchase) and a.customer_id in members),
        key=lambda p: (p.occurred_at, p.id),
    )
    for p in purchases:
        rules.award(ledger, p, referrer=referrer.get(p.customer_id))
    ledger.expire(as_of=as_of)
    rows = []
    names = {c.id: c.name for c in customers}
    tier_now: dict[str, str] = {}
    for cid in sorted(members):
        entries = ledger.entries(cid)
        events = [(e.at, float(e.points)) for e in entries if e.kind.value == "earn"]
        history = tiers.history(events, until=as_of)
        tier_now[cid] = history[-1].tier if history else tiers.tiers[0].name
        rows.append(
            (
                cid,
                names[cid],
                sum(e.points for e in entries if e.kind.value == "earn"),
                ledger.balance(cid),
                tier_now[cid],
                len(history),
            )
        )
    rows.sort(key=lambda r: (-int(r[3]), r[0]))
    _say(
        out,
        report,
        f"Loyalty: {len(purchases)} purchases of {len(members)} members awarded in the "
        "SQLite ledger (top balances)",
        table(rows[:8], header=["id", "member", "earned", "balance", "tier", "tier changes"]),
    )
    order = [t.name for t in tiers.tiers]
    counted = pd.Series(tier_now).value_counts().reindex(order, fill_value=0)
    _say(
        out,
        report,
        f"Members by tier as of {as_of.date()}",
        table([(k, int(v)) for k, v in counted.items()], header=["tier", "members"]),
    )
    report.figure(
        "tier-distribution",
        "Members by tier",
        "tier_distribution",
        pd.Series(tier_now),
        order=order,
    )
