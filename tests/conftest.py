"""Test configuration: hypothesis profiles.

* ``dev`` (default): random examples, no deadline (the machine is shared, so
  timing deadlines would be flaky).
* ``ci`` (when ``CI`` is set): derandomised, so that a run is reproducible and
  landing does not depend on luck; more examples.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=100)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=200,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
