"""The load scenarios under a step-load shape that finds the knee (`make load-knee`; see shop_load/knee.py)."""

import locustfile
from locustfile import *  # noqa: F403  (every scenario of locustfile.py, with its tag filter)

from shop_load.knee import StepLoad

__all__ = [*locustfile.__all__, "StepLoad"]
