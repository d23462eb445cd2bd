"""Data shipped inside the package: the disposable e-mail domains and the trained model's weights."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from shop_fraud.domain.model import LogisticModel

MODEL_FILE = "model.json"
DISPOSABLE_FILE = "disposable_domains.txt"


def _data(name: str) -> str:
    return resources.files("shop_fraud").joinpath("data", name).read_text(encoding="utf-8")


@cache
def disposable_domains() -> frozenset[str]:
    lines = (line.strip().lower() for line in _data(DISPOSABLE_FILE).splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def load_model() -> LogisticModel:
    return LogisticModel.from_json(json.loads(_data(MODEL_FILE)))
