"""A synthetic, labelled data set of purchases for training and evaluating the model.

Each sample is the `Signals` the service would assemble for a purchase (the purchase plus what the
counters know), with a label from the story that generated it. Legitimate buyers are mostly
established customers buying near their usual amount from home, plus new customers and guests;
fraud comes in four patterns seen in card-not-present fraud:

- card testing: many small attempts with one card (or many cards on one device), often guests;
- stolen card on a new account: a high-value order, country mismatches, resellable items;
- account takeover: an old account suddenly ordering far above its history, shipped elsewhere;
- device farm: one device used by many accounts and cards.

A share of each class is drawn to look like the other (travellers, gifts, families sharing a
device; quiet fraudsters), so the model cannot be perfect. Everything comes from one
`random.Random(seed)`: the same seed gives the same data set.

    python -m shop_fraud.training.generate --seed 2026 --samples 10 # prints a few samples
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shop_fraud.domain.purchase import KeyKind, Line, Purchase
from shop_fraud.domain.signals import History, Signals, Velocity, WindowCounts
from shop_fraud.shipped import disposable_domains
from shopkit.money import Money

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
COUNTRIES = ("US", "DE", "GB", "FR", "NL", "CA", "AU", "ES", "IT", "SE")
MAIL_PROVIDERS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "web.de", "proton.me", "example.com")
SKUS = ("TSHIRT-01", "SHOE-42", "LAMP-7", "BOOK-123", "MUG-3", "PHONE-X", "LAPTOP-15")
RESELLABLE = ("GIFTCARD-50", "GIFTCARD-100", "GC-25")
DEFAULT_FRAUD_RATE = 0.08


@dataclass(frozen=True)
class Sample:
    signals: Signals
    fraud: bool
    pattern: str


class _Draw:
    """Small helpers over one random stream."""

    def __init__(self, rng: random.Random, disposable: Sequence[str]):
        self.rng = rng
        self.disposable = disposable

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def count(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def small_count(self, weights: Sequence[float]) -> int:
        """0, 1, 2, ... with the given relative weights."""
        return self.rng.choices(range(len(weights)), weights=weights)[0]

    def amount(self, median_major: float, sigma: float) -> int:
        return max(100, int(self.rng.lognormvariate(math.log(median_major * 100), sigma)))

    def other_country(self, home: str) -> str:
        return self.rng.choice([c for c in COUNTRIES if c != home])

    def email(self, disposable: bool) -> str:
        domain = self.rng.choice(self.disposable) if disposable else self.rng.choice(MAIL_PROVIDERS)
        return f"user{self.rng.randrange(10**6)}@{domain}"

    def ip(self) -> str:
        return f"198.51.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def counts(self, day: int, hour_share: float = 0.3, week_extra: int = 2) -> WindowCounts:
        hour = sum(1 for _ in range(day) if self.chance(hour_share))
        return WindowCounts(hour=hour, day=day, week=day + self.count(0, week_extra))

    def lines(self, amount: int, resellable: bool, bulk: bool) -> tuple[Line, ...]:
        sku = self.rng.choice(RESELLABLE if resellable else SKUS)
        quantity = self.count(21, 60) if bulk else self.count(1, 3)
        return (Line(sku, quantity, Money(max(1, amount // quantity), "USD")),)


def _purchase(
    d: _Draw,
    *,
    amount: int,
    age_days: int | None,
    home: str,
    ip_foreign: bool,
    card_foreign: bool,
    ship_foreign: bool,
    disposable: bool,
    device: bool = True,
    card: bool = True,
    resellable: bool = False,
    bulk: bool = False,
) -> Purchase:
    return Purchase(
        email=d.email(disposable),
        amount=Money(amount, "USD"),
        ip=d.ip(),
        lines=d.lines(amount, resellable, bulk),
        customer_id="" if age_days is None else f"c-{d.rng.randrange(10**9)}",
        account_created_at=None if age_days is None else NOW - timedelta(days=age_days, hours=d.count(0, 23)),
        ip_country=d.other_country(home) if ip_foreign else home,
        device_id=f"dev-{d.rng.randrange(10**9)}" if device else "",
        card_fingerprint=f"card-{d.rng.randrange(10**9)}" if card else "",
        card_country=d.other_country(home) if card_foreign else home,
        billing_country=home,
        shipping_country=d.other_country(home) if ship_foreign else home,
        channel="web",
    )


def _velocity(
    d: _Draw,
    *,
    customer: int,
    ip: int,
    device: int,
    card_day: int,
    card_hour_share: float = 0.3,
    other_cards: int = 0,
    other_buyers: int = 0,
) -> Velocity:
    counts = {
        KeyKind.CUSTOMER: d.counts(customer),
        KeyKind.EMAIL: d.counts(customer),
        KeyKind.IP: d.counts(ip),
        KeyKind.DEVICE: d.counts(device),
        KeyKind.CARD: d.counts(card_day, hour_share=card_hour_share),
    }
    return Velocity(counts=counts, other_cards_on_device=other_cards, other_buyers_on_device=other_buyers)


def _established(d: _Draw) -> Signals:
    home = d.rng.choice(COUNTRIES)
    median = d.amount(70, 0.7)
    # Now and then a big purchase (a TV, a sofa) far above the usual basket.
    spread = d.rng.uniform(4, 15) if d.chance(0.04) else d.rng.lognormvariate(0, 0.6)
    amount = max(100, int(median * spread))
    purchase = _purchase(
        d,
        amount=amount,
        age_days=d.count(30, 2000),
        home=home,
        ip_foreign=d.chance(0.08),
        card_foreign=d.chance(0.03),
        ship_foreign=d.chance(0.10),
        disposable=d.chance(0.015),
        device=d.chance(0.85),
        card=d.chance(0.95),
        resellable=d.chance(0.04),
        bulk=d.chance(0.01),
    )
    shared_nat = d.chance(0.05)
    velocity = _velocity(
        d,
        customer=d.small_count([70, 20, 7, 2, 1]),
        ip=d.count(5, 25) if shared_nat else d.small_count([60, 25, 10, 5]),
        device=d.small_count([70, 20, 7, 3]),
        card_day=d.small_count([75, 18, 5, 2]),
        card_hour_share=0.2,
        other_cards=d.small_count([85, 12, 3]),
        other_buyers=d.small_count([85, 12, 2, 1]),
    )
    return Signals(purchase, NOW, velocity, History(orders=d.count(3, 40), median_amount=median))


def _newcomer(d: _Draw) -> Signals:
    home = d.rng.choice(COUNTRIES)
    guest = d.chance(0.5)
    purchase = _purchase(
        d,
        amount=d.amount(500, 0.5) if d.chance(0.08) else d.amount(60, 0.9),  # some start with a big order
        age_days=None if guest else d.count(0, 14),
        home=home,
        ip_foreign=d.chance(0.10),
        card_foreign=d.chance(0.04),
        ship_foreign=d.chance(0.12),
        disposable=d.chance(0.04),
        device=d.chance(0.8),
        card=d.chance(0.95),
        resellable=d.chance(0.05),
        bulk=d.chance(0.01),
    )
    velocity = _velocity(
        d,
        customer=d.small_count([85, 12, 3]),
        ip=d.small_count([60, 25, 10, 5]),
        device=d.small_count([80, 15, 5]),
        card_day=d.small_count([85, 12, 3]),
        other_cards=d.small_count([90, 9, 1]),
        other_buyers=d.small_count([88, 10, 2]),
    )
    orders = 0 if guest else d.small_count([80, 15, 5])
    history = History(orders=orders, median_amount=purchase.amount.amount if orders else 0)
    return Signals(purchase, NOW, velocity, history)


def _card_testing(d: _Draw) -> Signals:
    home = d.rng.choice(COUNTRIES)
    purchase = _purchase(
        d,
        amount=d.amount(8, 0.7),
        age_days=None if d.chance(0.7) else d.count(0, 3),
        home=home,
        ip_foreign=d.chance(0.45),
        card_foreign=d.chance(0.40),
        ship_foreign=d.chance(0.25),
        disposable=d.chance(0.35),
        device=d.chance(0.6),
        resellable=d.chance(0.2),
    )
    card_day = d.count(1, 15)
    velocity = _velocity(
        d,
        customer=d.count(0, 6),
        ip=d.count(2, 30),
        device=d.count(1, 15),
        card_day=card_day,
        card_hour_share=0.7,
        other_cards=d.count(0, 6),
        other_buyers=d.count(0, 3),
    )
    return Signals(purchase, NOW, velocity, History())


def _stolen_card(d: _Draw) -> Signals:
    home = d.rng.choice(COUNTRIES)
    purchase = _purchase(
        d,
        amount=d.amount(700, 0.6),
        age_days=None if d.chance(0.55) else d.count(0, 5),
        home=home,
        ip_foreign=d.chance(0.55),
        card_foreign=d.chance(0.45),
        ship_foreign=d.chance(0.50),
        disposable=d.chance(0.35),
        device=d.chance(0.75),
        resellable=d.chance(0.45),
        bulk=d.chance(0.10),
    )
    velocity = _velocity(
        d,
        customer=d.count(0, 3),
        ip=d.count(0, 6),
        device=d.count(0, 4),
        card_day=d.count(0, 3),
        other_cards=d.count(0, 2),
        other_buyers=d.count(0, 2),
    )
    return Signals(purchase, NOW, velocity, History())


def _account_takeover(d: _Draw) -> Signals:
    home = d.rng.choice(COUNTRIES)
    median = d.amount(60, 0.6)
    purchase = _purchase(
        d,
        amount=int(median * d.rng.uniform(4, 25)),
        age_days=d.count(60, 2000),
        home=home,
        ip_foreign=d.chance(0.60),
        card_foreign=d.chance(0.15),
        ship_foreign=d.chance(0.55),
        disposable=False,
        resellable=d.chance(0.35),
    )
    velocity = _velocity(
        d,
        customer=d.count(0, 3),
        ip=d.count(0, 3),
        device=0,
        card_day=d.count(0, 2),
        other_buyers=d.small_count([70, 30]),
    )
    return Signals(purchase, NOW, velocity, History(orders=d.count(3, 30), median_amount=median))


def _device_farm(d: _Draw) -> Signals:
    home = d.rng.choice(COUNTRIES)
    purchase = _purchase(
        d,
        amount=d.amount(150, 0.8),
        age_days=None if d.chance(0.4) else d.count(0, 10),
        home=home,
        ip_foreign=d.chance(0.35),
        card_foreign=d.chance(0.30),
        ship_foreign=d.chance(0.30),
        disposable=d.chance(0.25),
        resellable=d.chance(0.30),
    )
    velocity = _velocity(
        d,
        customer=d.count(0, 2),
        ip=d.count(2, 20),
        device=d.count(3, 20),
        card_day=d.count(0, 3),
        other_cards=d.count(1, 7),
        other_buyers=d.count(2, 9),
    )
    return Signals(purchase, NOW, velocity, History())


FRAUD_PATTERNS = (
    ("card_testing", 25, _card_testing),
    ("stolen_card", 35, _stolen_card),
    ("account_takeover", 25, _account_takeover),
    ("device_farm", 15, _device_farm),
)
QUIET_FRAUD_SHARE = 0.15  # fraud that looks like an ordinary purchase of an established customer


def generate(samples: int, seed: int, *, fraud_rate: float = DEFAULT_FRAUD_RATE) -> list[Sample]:
    rng = random.Random(seed)
    d = _Draw(rng, sorted(disposable_domains()))
    data: list[Sample] = []
    for _ in range(samples):
        if d.chance(fraud_rate):
            if d.chance(QUIET_FRAUD_SHARE):
                data.append(Sample(_established(d), True, "quiet"))
                continue
            name, _, make = rng.choices(FRAUD_PATTERNS, weights=[w for _, w, _ in FRAUD_PATTERNS])[0]
            data.append(Sample(make(d), True, name))
        elif d.chance(0.7):
            data.append(Sample(_established(d), False, "established"))
        else:
            data.append(Sample(_newcomer(d), False, "newcomer"))
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args(argv)
    for sample in generate(args.samples, args.seed):
        p = sample.signals.purchase
        print(
            f"{'FRAUD' if sample.fraud else 'ok   '} {sample.pattern:16} {p.amount.amount:>8} {p.amount.currency} "
            f"guest={p.is_guest} ip={p.ip_country} card={p.card_country} bill={p.billing_country} "
            f"ship={p.shipping_country} email={p.email_domain}"
        )


if __name__ == "__main__":
    main()
