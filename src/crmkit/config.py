"""The one configuration file of a crmkit job, and the job it drives.

:class:`Config` loads value, segments, lifecycle and loyalty from one TOML (or
JSON) file; :func:`score_transactions` runs the whole job over a frame of
transactions (what ``crmkit score`` runs); :func:`score_dask` runs the same
job on Dask. They live in :mod:`crmkit.app`; this module is their stable
public name.

>>> from crmkit.config import Config
>>> Config().summary()
'empty (every section absent: presets apply)'
"""

from crmkit.app import Config, DaskJobResult, JobResult, score_dask, score_transactions

__all__ = ["Config", "DaskJobResult", "JobResult", "score_dask", "score_transactions"]
