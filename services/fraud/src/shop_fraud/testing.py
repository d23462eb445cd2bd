"""A predictable fraud service for the tests of the services that call it (checkout, the gateway).

    peer(build, FraudSettings, postgres, nats_url, **predictable(blocked_domain="throwaway.test", review_country="KP"))

Rules only (no model) and every rule weighs 0 except two: an e-mail at `blocked_domain` is
BLOCKed (disposable e-mail, 100) and a client in `review_country` goes to REVIEW (high-risk
country, 50); everything else is ALLOWed. No deny list after rejections, no sweeper.
"""

from __future__ import annotations

from typing import Any

from shop_fraud.domain.policy import ReasonCode


def predictable(*, blocked_domain: str, review_country: str) -> dict[str, Any]:
    """FraudSettings fields of the profile above."""
    weights = {code.value: 0 for code in ReasonCode}
    weights.update({ReasonCode.DISPOSABLE_EMAIL.value: 100, ReasonCode.HIGH_RISK_COUNTRY.value: 50})
    return {
        "model_weight_percent": 0,
        "rule_weights": weights,
        "high_risk_countries": [review_country],
        "extra_disposable_domains": [blocked_domain],
        "deny_list_on_reject": False,
        "sweeper_enabled": False,
    }
