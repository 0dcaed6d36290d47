"""The application layer: one configuration file, the whole job, the command line and the demo.

It stands on every other layer and nothing stands on it:

* :class:`Config` loads value, segments, lifecycle and loyalty from one TOML
  (or JSON) file; :func:`score_transactions` runs the whole job over the
  activity frames (what ``crmkit score`` runs), and :func:`score_dask` runs
  the very same job on each customer partition of Dask DataFrames (the
  ``dask`` extra). All are also public as ``crmkit.config``.
* :func:`crmkit.app.cli.main` is the ``crmkit`` command.
* :func:`synthetic_base` and :func:`synthetic_transactions` generate a
  realistic customer base (the demo's data; also handy in notebooks and
  benchmarks), deterministic for a seed; :func:`synthetic_frames` gives
  every activity frame and the profiles at millions of rows.

>>> from crmkit.app import synthetic_transactions
>>> synthetic_transactions(100, 10, seed=1).shape
(100, 4)
"""

from crmkit.app._config import Config
from crmkit.app._dask_job import DaskJobResult, score_dask
from crmkit.app._job import JobResult, score_transactions, segment_column
from crmkit.app._synthetic import SyntheticBase, synthetic_base, synthetic_transactions
from crmkit.app._synthetic_frames import synthetic_frames

__all__ = [
    "Config",
    "DaskJobResult",
    "JobResult",
    "SyntheticBase",
    "score_dask",
    "score_transactions",
    "segment_column",
    "synthetic_base",
    "synthetic_frames",
    "synthetic_transactions",
]
