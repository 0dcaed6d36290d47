"""The one configuration file of a crmkit job, and the job it drives.

:class:`Config` loads value, segments, lifecycle and loyalty from one TOML (or
JSON) file; :func:`score_transactions` runs the whole job over a frame of
transactions (what ``crmkit score`` runs).

>>> from crmkit.config import Config
>>> Config().summary()
'empty (every section absent: presets apply)'
"""

from crmkit._config_file import Config
from crmkit._job import JobResult, score_transactions

__all__ = ["Config", "JobResult", "score_transactions"]
