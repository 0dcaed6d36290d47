"""The one configuration file of a crmkit job (public home of :class:`Config`).

>>> from crmkit.config import Config
>>> Config().summary()
'empty (every section absent: presets apply)'
"""

from crmkit._config_file import Config

__all__ = ["Config"]
