"""Scenario tags (`make load LOAD_TAGS=checkout`): browse, shop, b2b, flash, grpc, checkout, international,
guest, returns, account.

Locust keeps a user class whose tasks were all filtered out by `--tags`/`--exclude-tags`, and its
users fail; this drops such classes before any user spawns, so a tag picks whole scenarios.
"""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment


def _drop_users_without_tasks(environment: Environment, **_: Any) -> None:
    # The runner filters at start; filtering is done once, so doing it now changes nothing else.
    environment._filter_tasks_by_tags()
    kept = [user_class for user_class in environment.user_classes if user_class.tasks]
    if kept and len(kept) < len(environment.user_classes):
        environment.user_classes = kept


hooks: Any = events  # locust's event hooks are untyped
hooks.init.add_listener(_drop_users_without_tasks)
