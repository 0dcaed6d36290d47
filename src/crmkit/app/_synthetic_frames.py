"""Every activity frame and the profiles of a large synthetic base, generated with numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.app._synthetic import synthetic_transactions

__all__ = ["synthetic_frames"]


def synthetic_frames(
    rows: int,
    customers: int,
    *,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
) -> dict[str, pd.DataFrame]:
    """Seeded frames of every activity kind and the profiles, fast at millions of rows.

    The keys are the job's arguments (``score_transactions(**frames, ...)``
    with ``date="date", settlement="settlement", scale="scale"``):

    * ``transactions``: :func:`synthetic_transactions` of about 70% of *rows*;
    * ``refunds`` (``amount``, a part of a purchase's), ``complaints``
      (``severity``), ``referrals``, ``interactions`` (``channel``) and
      ``surveys`` (``score`` on its ``scale``, csat or nps): the other 30%;
      a few of their customers never buy (ids after the buyers');
    * ``profiles``: one row per buying customer, indexed by ``customer_id``,
      with the profile attributes the default value model reads
      (``kind``, ``spending_budget``, ``share_of_wallet``, ``influence``,
      ``is_member``), some unknown (NaN).

    Every frame has ``customer_id`` (Python-backed strings) and ``date``
    (``datetime64``, naive = UTC), in no particular order.

    >>> frames = synthetic_frames(2_000, 100, seed=1)
    >>> sorted(frames)
    ['complaints', 'interactions', 'profiles', 'referrals', 'refunds', 'surveys', 'transactions']
    >>> sum(len(f) for name, f in frames.items() if name != "profiles")
    2000
    """
    rng = np.random.default_rng(seed)
    purchases = max(int(rows * 0.7), min(rows, customers))
    tx = synthetic_transactions(purchases, customers, seed=seed, start=start, end=end)
    rest = rows - purchases
    shares = {"refunds": 0.2, "complaints": 0.15, "referrals": 0.1, "interactions": 0.35}
    sizes = {name: int(rest * share) for name, share in shares.items()}
    sizes["surveys"] = rest - sum(sizes.values())
    lo = np.datetime64(start, "s").astype(np.int64)
    hi = np.datetime64(end, "s").astype(np.int64) + 86_399
    text = pd.StringDtype("python")
    others_only = max(customers // 50, 1)  # customers with other activity but no purchase
    ids = np.char.add("c", np.char.zfill(np.arange(customers + others_only).astype(str), 7)).astype(
        object
    )

    def base(n: int) -> dict[str, object]:
        who = rng.integers(0, customers + others_only, size=n)
        seconds = rng.integers(lo, hi, size=n)
        return {
            "customer_id": pd.array(ids[who], dtype=text),
            "date": seconds.astype("datetime64[s]").astype("datetime64[ns]"),
        }

    def pick(values: list[str], n: int, p: list[float] | None = None) -> pd.arrays.StringArray:
        return pd.array(
            np.array(values, dtype=object)[rng.choice(len(values), size=n, p=p)], dtype=text
        )

    n = sizes["surveys"]
    nps = rng.random(n) < 0.5
    frames = {
        "transactions": tx,
        "refunds": pd.DataFrame(
            {
                **base(sizes["refunds"]),
                "amount": np.round(rng.lognormal(2.5, 0.7, sizes["refunds"]), 2),
            }
        ),
        "complaints": pd.DataFrame(
            {
                **base(sizes["complaints"]),
                "severity": pick(["low", "medium", "high"], sizes["complaints"]),
            }
        ),
        "referrals": pd.DataFrame(base(sizes["referrals"])),
        "interactions": pd.DataFrame(
            {
                **base(sizes["interactions"]),
                "channel": pick(
                    ["phone", "sms", "email", "social", "in_person"], sizes["interactions"]
                ),
            }
        ),
        "surveys": pd.DataFrame(
            {
                **base(n),
                "score": np.where(nps, rng.integers(0, 11, n), rng.integers(1, 6, n)).astype(
                    np.int64
                ),
                "scale": pd.array(np.where(nps, "nps", "csat").astype(object), dtype=text),
            }
        ),
    }
    budget = np.round(rng.lognormal(9.0, 1.5, customers), 0)
    wallet = np.round(rng.random(customers), 2)
    frames["profiles"] = pd.DataFrame(
        {
            "kind": pick(["individual", "company"], customers, [0.9, 0.1]),
            "spending_budget": np.where(rng.random(customers) < 0.3, np.nan, budget),
            "share_of_wallet": np.where(rng.random(customers) < 0.4, np.nan, wallet),
            "influence": pick(
                ["none", "senior_position", "celebrity"], customers, [0.9, 0.08, 0.02]
            ),
            "is_member": rng.random(customers) < 0.3,
        },
        index=pd.Index(pd.array(ids[:customers], dtype=text), name="customer_id"),
    )
    return frames
