"""From signals to a score and a decision: rule points blended with the model's probability.

    rule_score  = min(100, sum of the weights of the reasons that fired)
    model_score = round(100 * model probability)
    score       = round((rule_score * (100 - w) + model_score * w) / 100)   w = model_weight_percent

Integer arithmetic from there on, so a score on a threshold decides the same way everywhere.
A deny-list hit blocks whatever the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from shop_fraud.domain.model import LogisticModel, features
from shop_fraud.domain.policy import Policy, ReasonCode
from shop_fraud.domain.rules import Reason, evaluate
from shop_fraud.domain.signals import Signals

RULESET_VERSION = "rules-1"


class Decision(Enum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


@dataclass(frozen=True)
class Outcome:
    score: int
    decision: Decision
    reasons: tuple[Reason, ...]
    rule_score: int
    model_score: int


def blend(rule_score: int, model_score: int, model_weight_percent: int) -> int:
    total = rule_score * (100 - model_weight_percent) + model_score * model_weight_percent
    return (total + 50) // 100


def decide(score: int, reasons: tuple[Reason, ...], policy: Policy) -> Decision:
    if score >= policy.block_threshold or any(r.code is ReasonCode.DENY_LISTED for r in reasons):
        return Decision.BLOCK
    if score >= policy.review_threshold:
        return Decision.REVIEW
    return Decision.ALLOW


def assess(signals: Signals, policy: Policy, model: LogisticModel) -> Outcome:
    reasons = tuple(evaluate(signals, policy))
    rule_score = min(100, sum(reason.weight for reason in reasons))
    model_score = model.percent(features(signals, policy))
    score = blend(rule_score, model_score, policy.model_weight_percent)
    return Outcome(score, decide(score, reasons, policy), reasons, rule_score, model_score)


def model_version(model: LogisticModel) -> str:
    return f"{RULESET_VERSION}+{model.version}"
