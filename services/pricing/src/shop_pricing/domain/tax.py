"""Tax rules and the tax of a quote.

Rules:
- The rule of the destination's region wins over its country's; no rule: no tax.
- Prices in a country whose rule says prices_include_tax (EU VAT) contain the tax: the tax of an
  amount is the part of it that is tax, gross - net with net = gross * 10000 / (10000 + rate_bp);
  the customer pays the price. Otherwise (US sales tax) the tax is added: amount * rate_bp / 10000.
- Tax is computed per line, on the line's total after its line discount and its share of the order
  discounts (spread over the lines in proportion to their totals, the remainder cent by cent to the
  largest lines), and on shipping when the rule taxes shipping. Each amount is rounded on its own
  to the currency's minor unit, half up (half away from zero: amounts are never negative) — the
  rounding of shopkit.money.percent_of, the same as promotions. A line's tax and net add up to its
  gross exactly.
- A B2B buyer (an account) with a tax id is exempt where the rule allows it: every tax is 0 and,
  where prices include tax, the listed price is charged as the net price.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopkit.money import percent_of

BP = 10_000


@dataclass(frozen=True, slots=True)
class TaxRule:
    country: str
    region: str
    name: str
    rate_bp: int
    prices_include_tax: bool
    tax_shipping: bool
    exempt_with_tax_id: bool


@dataclass(frozen=True, slots=True)
class TaxResult:
    rule: TaxRule | None
    exempt: bool
    line_taxes: tuple[int, ...]
    shipping_tax: int

    @property
    def included(self) -> bool:
        return self.rule is not None and self.rule.prices_include_tax

    @property
    def total(self) -> int:
        return sum(self.line_taxes) + self.shipping_tax

    @property
    def added(self) -> int:
        """What the tax adds to the total: nothing where prices include it."""
        return 0 if self.included else self.total


def rule_for(rules: list[TaxRule], country: str, region: str) -> TaxRule | None:
    """The region's rule, else the country's, else None."""
    by_key = {(r.country, r.region): r for r in rules}
    if region and (country, region) in by_key:
        return by_key[(country, region)]
    return by_key.get((country, ""))


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, integers only (denominator > 0)."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def added_tax(net: int, rate_bp: int) -> int:
    """Tax added on top of a net amount."""
    return percent_of(net, rate_bp)


def contained_tax(gross: int, rate_bp: int) -> int:
    """The part of a tax-inclusive amount that is tax."""
    return gross - round_half_up(gross * BP, BP + rate_bp)


def spread(amount: int, weights: list[int]) -> list[int]:
    """`amount` split over `weights` in proportion (largest remainder): the parts add up to amount."""
    whole = sum(weights)
    if whole <= 0 or amount == 0:
        return [0] * len(weights)
    parts = [amount * w // whole for w in weights]
    rest = amount - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % whole), -weights[i], i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


def tax_of_quote(
    rule: TaxRule | None, line_totals: list[int], order_discount: int, shipping: int, *, exempt_buyer: bool
) -> TaxResult:
    """The tax of each line and of shipping under `rule` (None: no tax)."""
    if rule is None:
        return TaxResult(None, False, tuple(0 for _ in line_totals), 0)
    if exempt_buyer and rule.exempt_with_tax_id:
        return TaxResult(rule, True, tuple(0 for _ in line_totals), 0)
    shares = spread(min(order_discount, sum(line_totals)), line_totals)
    of = contained_tax if rule.prices_include_tax else added_tax
    taxes = tuple(of(total - share, rule.rate_bp) for total, share in zip(line_totals, shares, strict=True))
    shipping_tax = of(shipping, rule.rate_bp) if rule.tax_shipping else 0
    return TaxResult(rule, False, taxes, shipping_tax)
