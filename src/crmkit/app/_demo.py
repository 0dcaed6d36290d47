"""``crmkit demo``: a synthetic customer base through SQLite, read back, scored, and reported.

The report is one self-contained HTML file (``report/index.html``): tables,
the plots embedded as base64 PNG (with the ``plot`` extra), no external
resources. With ``customers`` the demo also runs the ``crmkit score`` job
(:func:`~crmkit.app.score_transactions`) on that many synthetic customers
and records each step's time.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from crmkit.adapters.sqlite import SQLiteStore
from crmkit.app._config import Config
from crmkit.app._job import score_transactions
from crmkit.app._synthetic import synthetic_base, synthetic_transactions
from crmkit.app._text import table
from crmkit.core import ValidationError
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


def run_demo(*, folder: Path, seed: int, out: TextIO, customers: int | None = None) -> Path:
    """Build the demo base in ``folder/demo.sqlite``, read it back, print a summary, write the report.

    Returns the report's ``index.html``. With *customers*, also run the
    ``crmkit score`` job on that many synthetic customers and time it.
    """
    if customers is not None and customers < 1:
        raise ValidationError(
            "--customers", expected="a positive number of customers", got=customers
        )
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
        customers_read = [c for batch in store.customers.iter_all() for c in batch]
        contacts = {c.id: store.contacts.for_customer(c.id) for c in customers_read}
        activities = [a for batch in store.activities.iter_batches() for a in batch]

    report = _Report(folder / "report")
    _print_summary(
        out, report, path, base.as_of.date().isoformat(), customers_read, contacts, activities
    )
    scored = _print_scores(out, report, base.as_of, customers_read, activities)
    _print_segments(out, report, base.as_of, customers_read, activities, scored)
    _print_stages(out, report, base.as_of, activities)
    with SQLiteStore(path) as store:
        _print_points(out, report, store, base.as_of, customers_read, activities, scored)
    if customers is not None:
        _at_scale(out, report, customers=customers, seed=seed, as_of=base.as_of)
    index = report.write(
        title=f"crmkit demo report (as of {base.as_of.date()})",
        lead=f"A synthetic customer base of {len(customers_read)} customers (seed {seed}), "
        "stored in SQLite and read back, scored end to end with crmkit: who is worth most "
        "and why, which segments they fall in, where they are in their lifecycle month by "
        "month, and what the loyalty programme gave them.",
    )
    print(f"\nReport: {index}", file=out)
    return index


def _print_summary(
    out: TextIO,
    report: _Report,
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
    counted: list[tuple[object, ...]] = [
        ("customers", len(customers)),
        ("  companies", sum(c.kind is CustomerKind.COMPANY for c in customers)),
        (
            "  individuals on a company's staff",
            sum(c.company_id is not None for c in customers),
        ),
        ("  members of the loyalty programme", sum(c.is_member for c in customers)),
        ("contacts", sum(len(v) for v in contacts.values())),
        *sorted(kinds.items()),
    ]
    say(_table(counted, header=["records read back", "count"]))
    report.section(
        "base",
        "The customer base",
        f"Every record below was written to SQLite and read back through the repositories, "
        f"as an application would. Activity up to {as_of} counts.",
    )
    report.rows(["records read back", "count"], counted)

    net: defaultdict[str, Decimal] = defaultdict(Decimal)
    for a in activities:
        if isinstance(a, Purchase):
            net[a.customer_id] += a.amount
        elif isinstance(a, Refund):
            net[a.customer_id] -= a.amount
    staff = Counter(c.company_id for c in customers if c.company_id)
    companies = [
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
    ]
    _show(
        out,
        report,
        "Companies, their staff and their contacts",
        ["id", "company", "staff", "contacts", "own spend", "staff spend"],
        companies,
    )
    _show(
        out,
        report,
        "Top customers by net spend (purchases less refunds)",
        ["id", "name", "kind", "net spend (CNY)"],
        [
            (cid, by_id[cid].name, by_id[cid].kind.value, f"{v:,.2f}")
            for cid, v in sorted(net.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        ],
    )

    hosted = [a for a in activities if isinstance(a, Purchase) and a.guests]
    complaints = Counter(a.severity.value for a in activities if isinstance(a, Complaint))
    referrals = [a for a in activities if isinstance(a, Referral)]
    lines = [
        f"Hosted purchases: {len(hosted)}, treating "
        f"{len({g for p in hosted for g in p.guests})} distinct guests."
    ]
    if hosted:
        p = max(hosted, key=lambda h: (len(h.guests), h.amount))
        guests = ", ".join(by_id[g].name for g in sorted(p.guests) if g in by_id)
        lines.append(
            f"  e.g. {p.id}: {by_id[p.customer_id].name} paid {p.amount} {p.currency} "
            f"on {p.occurred_at.date()} for {guests}"
        )
    lines.append(
        "Complaints by severity: "
        + ", ".join(f"{s} {complaints[s]}" for s in ("low", "medium", "high", "critical"))
    )
    if referrals:
        r = referrals[0]
        lines.append(
            f"Referrals: {len(referrals)}, e.g. {by_id[r.customer_id].name} brought "
            f"{by_id[r.referred_id].name} on {r.occurred_at.date()}"
        )
    say()
    for line in lines:
        say(line)
        report.para(line.strip())


def _print_scores(
    out: TextIO,
    report: _Report,
    as_of: datetime,
    customers: list[Customer],
    activities: list[Activity],
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
    report.section(
        "value",
        "Who is worth most, and why",
        f"The composite value of model {model.name} (version {model.version}) adds up "
        f"{len(model.components)} weighted components. Each component's column in the "
        "table is its contribution, so a row adds up to its value.",
    )
    report.items([f"{c.name}: {c.description or c.formula.text}" for c in model.components])
    _show(
        out,
        report,
        f"Composite value as of {as_of.date()} (model {model.name}, version {model.version})",
        ["id", "name", "kind", "value", *(c.name for c in model.components)],
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
    )
    quantiles = scored["value"].quantile([0.25, 0.5, 0.75]).round(1).tolist()
    say(f"Value quartiles over {len(scored)} customers: {quantiles}")
    report.figure(
        "value-components",
        "What made the top ten customers' value: each bar split into its components",
        "value_components",
        scored,
        top=10,
        names=pd.Series(names),
    )

    # The same score for one customer, from entities, as an app computes it in a request.
    def one(cid: str) -> Any:
        mine = [a for a in activities if a.customer_id == cid]
        return model.score_one(
            {
                **features_one(mine, as_of=as_of),
                **{str(k): v for k, v in profiles.loc[cid].items()},
            }
        )

    top = str(scored.index[0])
    score = one(top)
    say()
    title = f"Why {names[top]} ({top}) is on top, scored one customer at a time:"
    say(title)
    say(score.explain())
    report.heading(title)
    report.para(
        "What the model read for this customer and what each component gave "
        "(ValueModel.score_one, the path an application takes for one customer; it "
        "equals the whole-base score):"
    )
    report.rows(["component", "reads", "contribution", "share of value"], _explained(score))
    report.pre(score.explain())
    for rank, cid in enumerate(scored.index[1:3], start=2):
        other = one(str(cid))
        shares = {c.name: other.contributions[c.name] or 0.0 for c in model.components}
        parts_text = ", ".join(
            f"{n} {v:.1f}" for n, v in sorted(shares.items(), key=lambda kv: -kv[1])[:3]
        )
        line = f"#{rank} {names[str(cid)]} ({cid}): value {other.value:.1f}, mostly {parts_text}"
        say(line)
        report.para(line)
    report.para(
        f"Value quartiles over {len(scored)} customers: "
        + " / ".join(f"{q:g}" for q in quantiles)
        + " (the dotted and dashed lines below)."
    )
    report.figure("value-distribution", "Value distribution", "value_distribution", scored["value"])
    return scored.join(feats[[c for c in feats.columns if c not in scored.columns]])


def _explained(score: Any) -> list[tuple[object, ...]]:
    """One row per component of a :class:`~crmkit.scoring.Score`, largest contribution first."""
    total = score.value or 0.0
    rows = []
    for comp in score.components:
        got = score.contributions[comp.name]
        reads = ", ".join(
            f"{n} = {_short(score.inputs.get(n))}" for n in sorted(comp.formula.names)
        )
        share = f"{100 * got / total:.0f}%" if got is not None and total else "-"
        rows.append((comp.name, reads, "null" if got is None else f"{got:.1f}", share, got or 0.0))
    rows.sort(key=lambda r: -float(r[-1]))
    return [r[:-1] for r in rows]


def _short(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1e3 else f"{value:,.0f}"
    return str(value)


# ---------------------------------------------------------------- the report


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;
 max-width:66rem;margin:2rem auto;padding:0 1.25rem;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.25rem}h2{margin-top:2.5rem;border-bottom:2px solid #3b6ea5;
 padding-bottom:.2rem}h3{margin:1.5rem 0 .5rem;font-size:1.05rem}
.lead{color:#444;max-width:52rem}nav{background:#f3f6fa;padding:.5rem .9rem;border-radius:6px}
nav a{margin-right:1.1rem;color:#3b6ea5;text-decoration:none}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{background:#f3f6fa}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td:first-child{white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.82rem}
figure{margin:.75rem 0 1.25rem}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9rem}.note{color:#555;font-size:.9rem}
"""


class _Report:
    """The demo's report: one self-contained ``index.html``, the plots embedded as base64 PNG.

    Without matplotlib (the ``plot`` extra) the report holds the tables only.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sections: list[tuple[str, str, list[str]]] = []
        import importlib.util

        self.can_plot = importlib.util.find_spec("matplotlib") is not None

    def section(self, anchor: str, title: str, intro: str) -> None:
        self.sections.append((anchor, title, [f"<p>{html.escape(intro)}</p>"]))

    def _add(self, part: str) -> None:
        self.sections[-1][2].append(part)

    def heading(self, title: str) -> None:
        self._add(f"<h3>{html.escape(title)}</h3>")

    def items(self, texts: Sequence[str]) -> None:
        self._add("<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in texts) + "</ul>")

    def para(self, text: str) -> None:
        self._add(f"<p>{html.escape(text)}</p>")

    def pre(self, text: str) -> None:
        self._add(f"<pre>{html.escape(text)}</pre>")

    def rows(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td{' class=n' if _numeric(v) else ''}>{html.escape(str(v))}</td>" for v in row
            )
            + "</tr>"
            for row in rows
        )
        self._add(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def figure(self, name: str, caption: str, function: str, /, *args: Any, **kwargs: Any) -> None:
        import base64

        if not self.can_plot:
            return
        from crmkit.adapters import plots

        fig = getattr(plots, function)(*args, **kwargs)
        png = base64.b64encode(plots.to_png(fig, dpi=100)).decode("ascii")
        self._add(
            f'<figure id="{name}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{png}"><figcaption>{html.escape(caption)}</figcaption>'
            "</figure>"
        )

    def write(self, *, title: str, lead: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        note = (
            ""
            if self.can_plot
            else '<p class="note">Install the <code>plot</code> extra (matplotlib) for the '
            "plots: <code>pip install 'crmkit[plot]'</code>.</p>"
        )
        nav = "".join(f'<a href="#{anchor}">{html.escape(t)}</a>' for anchor, t, _ in self.sections)
        body = "\n".join(
            f'<section id="{anchor}"><h2>{html.escape(t)}</h2>' + "\n".join(parts) + "</section>"
            for anchor, t, parts in self.sections
        )
        page = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f'<h1>{html.escape(title)}</h1><p class="lead">{html.escape(lead)}</p>{note}'
            f"<nav>{nav}</nav>\n{body}</body></html>\n"
        )
        index = self.folder / "index.html"
        index.write_text(page, encoding="utf-8")
        return index


def _numeric(value: object) -> bool:
    if isinstance(value, int | float | Decimal):
        return True
    text = str(value).replace(",", "").replace("%", "").strip()
    try:
        float(text)
    except ValueError:
        return False
    return True


def _show(
    out: TextIO,
    report: _Report,
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
) -> None:
    """Print a table on the console and put the same table in the report."""
    print(f"\n{title}\n{table(rows, header=list(header))}", file=out)
    report.heading(title)
    report.rows(header, rows)


# ---------------------------------------------------------------- the rest of the job


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
    held = positioning.drop(columns=["segments"])
    report.section(
        "segments",
        "Segments",
        "Positioning segments are multi-label (a customer may hold several, or none); value "
        "tiers (by quantiles of value) and RFM segments (recency, frequency and monetary "
        "quintiles) give each customer exactly one.",
    )
    rows = [(name, int(n)) for name, n in held.sum().items()]
    rows += [(f"value tier {k}", int(v)) for k, v in tiers["segment"].value_counts().items()]
    _show(
        out,
        report,
        f"Segments as of {as_of.date()} (positioning: a customer may hold several)",
        ["segment", "customers"],
        rows,
    )
    report.figure("segment-sizes", "Positioning segments: customers in each", "segment_sizes", held)
    counts = rfm["rfm_segment"].value_counts()
    _show(
        out,
        report,
        "RFM segments (recency, frequency, monetary quintiles)",
        ["RFM segment", "customers"],
        [(k, int(v)) for k, v in counts.items()],
    )
    report.figure(
        "rfm-grid", "RFM grid: customers in each recency x frequency cell", "rfm_grid", rfm
    )
    report.figure(
        "rfm-grid-value",
        "RFM grid: mean value in each cell",
        "rfm_grid",
        rfm.join(scored["value"]),
        value="value",
    )


def _print_stages(
    out: TextIO, report: _Report, as_of: datetime, activities: list[Activity]
) -> None:
    """Lifecycle stages replayed month by month over the two years of purchases, up to *as_of*."""
    lifecycle = Lifecycle.five_stage()
    tx = activity_frames(activities).transactions
    first = pd.Timestamp(tx["occurred_at"].min()).strftime("%Y-%m")
    # Every month end before as_of, and a last step at as_of itself: its month is included.
    replay = lifecycle.replay(tx, start=first, as_of=as_of)
    counts = replay.counts()
    last = counts.index[-1]
    report.section(
        "stages",
        "Lifecycle stages over time",
        f"Each customer is a state in the {lifecycle.name} lifecycle ("
        + ", ".join(lifecycle.states)
        + f"), stepped at every month end from their first purchase, and once more at "
        f"{as_of.date()}: the last month, {last}, counts its activity up to that day.",
    )
    quarterly = counts[[p.month % 3 == 0 or p == last for p in counts.index]]
    _show(
        out,
        report,
        f"Lifecycle stages at each quarter's end ({lifecycle.name})",
        ["quarter end", *lifecycle.states],
        [
            (str(p) if p != last else f"{p} (as of {as_of.date()})", *(int(x) for x in row))
            for p, row in quarterly.iterrows()
        ],
    )
    report.figure(
        "stage-counts",
        f"Customers by stage, month by month, to {as_of.date()}",
        "stage_counts",
        counts,
    )
    moves = replay.transitions
    year = moves[moves["period"] > last - 12]
    pairs = year.groupby(["from_stage", "to_stage"], observed=True).size()
    pairs = pairs[pairs > 0].sort_values(ascending=False)
    _show(
        out,
        report,
        "Stage changes over the last twelve months",
        ["from", "to", "customers"],
        [(*key, int(n)) for key, n in pairs.items() if isinstance(key, tuple)],
    )
    report.figure(
        "transition-heatmap",
        f"Stage changes from {last - 11} to {last}: from (rows) -> to (columns), every stage "
        "on both axes; customers who stayed in their stage are not counted",
        "transition_heatmap",
        year,
        states=lifecycle.states,
        title="Stage changes, last twelve months",
    )


_BASE = {"unit": 10.0, "points_per_unit": 1}
_REFERRAL = {"referrer": 500, "referred": 200}
_PROGRAMME = {
    "rounding": "floor",
    "expires_after_days": 730,
    "base": _BASE,
    "tier_multipliers": {"silver": 1.25, "gold": 1.5},
    "referral": _REFERRAL,
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
    order = [t.name for t in tiers.tiers]
    report.section(
        "loyalty",
        "Points and tiers",
        f"Members earn {_BASE['points_per_unit']:g} point per "
        f"{_BASE['unit']:g} CNY spent, and referral bonuses ({_REFERRAL['referrer']} to the "
        f"referrer, {_REFERRAL['referred']} to the newcomer), posted to a ledger in the same SQLite file; points expire after two "
        "years. Tiers ("
        + ", ".join(f"{t.name} from {t.threshold:g}" for t in tiers.tiers)
        + " points in a year) are re-evaluated every twelve months, with 30 days' grace "
        "before a downgrade.",
    )
    _show(
        out,
        report,
        f"Loyalty: {len(purchases)} purchases of {len(members)} members awarded in the "
        "SQLite ledger (top balances)",
        ["id", "member", "earned", "balance", "tier", "tier changes"],
        rows[:8],
    )
    counted = pd.Series(tier_now).value_counts().reindex(order, fill_value=0)
    _show(
        out,
        report,
        f"Members by tier as of {as_of.date()}",
        ["tier", "members"],
        [(k, int(v)) for k, v in counted.items()],
    )
    report.figure(
        "tier-distribution",
        "Members by tier",
        "tier_distribution",
        pd.Series(tier_now),
        order=order,
    )


def _at_scale(out: TextIO, report: _Report, *, customers: int, seed: int, as_of: datetime) -> None:
    """The ``crmkit score`` job on *customers* synthetic customers, each step timed."""
    from time import perf_counter

    rows = customers * 12
    config = Config.from_dict(
        {
            "segments": {
                "value_tiers": SegmentRules.value_tiers().to_dict(),
                "recency": SegmentRules.recency_view().to_dict(),
                "habits": {
                    "segments": {
                        "frequent": {"rule": "monthly_frequency >= 1"},
                        "big_basket": {
                            "rule": "monthly_avg_spend >= quantile(monthly_avg_spend, 0.9)"
                        },
                    }
                },
            },
            "loyalty": {"earning": _PROGRAMME, "tiers": _TIERS},
        }
    )
    started = perf_counter()
    tx = synthetic_transactions(
        rows,
        customers,
        seed=seed,
        start=(as_of - timedelta(days=730)).date().isoformat(),
        end=(as_of - timedelta(days=1)).date().isoformat(),
    )
    generated = perf_counter()
    marks: list[tuple[str, float]] = []
    result = score_transactions(
        tx,
        config,
        as_of=as_of,
        date="date",
        settlement="settlement",
        step=lambda name: marks.append((name, perf_counter())),
    )
    done = perf_counter()
    ends = [t for _, t in marks[1:]] + [done]
    timing: list[tuple[object, ...]] = [("generate the transactions", f"{generated - started:.2f}")]
    shown = {"points": "points and tiers"}
    timing += [
        (shown.get(name, name), f"{end - t:.2f}")
        for (name, t), end in zip(marks, ends, strict=True)
    ]
    timing.append(("the whole job (score_transactions)", f"{done - generated:.2f}"))
    scores = result.scores
    report.section(
        "scale",
        f"The same job at scale: {customers:,} customers",
        f"crmkit score's job (score_transactions: features, value, segments, the stage "
        f"replayed month by month, points and tiers) on {customers:,} synthetic customers "
        f"with {rows:,} purchases over two years, as of {as_of.date()}. Times are wall-clock "
        "seconds on this machine, for one run.",
    )
    _show(
        out,
        report,
        f"The job on {customers:,} customers and {rows:,} purchases (seconds)",
        ["step", "seconds"],
        timing,
    )
    stages = scores["stage"].value_counts()
    tiers = scores["tier"].value_counts()
    _show(
        out,
        report,
        f"At scale: {len(scores):,} customers scored",
        ["column", "customers"],
        [
            *((f"stage {k}", int(v)) for k, v in stages.items()),
            *((f"tier {k}", int(v)) for k, v in tiers.items()),
            *(
                (c, int(scores[c].sum()))
                for c in scores.columns
                if c.startswith("segment_habits__")
            ),
        ],
    )
