"""The mails' words: one text and one HTML template per kind (jinja2, in `templates/`).

HTML templates are autoescaped, so a product name or an address with markup in it is shown, never
interpreted; the text templates are plain text. Amounts are formatted by `domain.format_money`.
A new kind is a `<kind>.txt`, a `<kind>.html` and a subject below.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shop_notifications.domain import MailKind, Notice, Rendered, format_money

SUBJECTS: dict[MailKind, str] = {
    MailKind.ORDER_CONFIRMATION: "Your order {{ order.number }} is confirmed",
    MailKind.SHIPMENT: "Your order {{ order.number }} has shipped",
    MailKind.REFUND: "Refund of {{ money(refund.amount) }} for order {{ order.number }}",
    MailKind.RETURN_RECEIVED: "We received your return for order {{ order.number }}",
    MailKind.APPROVAL_NEEDED: (
        "Approval needed: order {{ order.number }} ({{ money(order.total) }})"
        "{% if approval.step and approval.step.of > 1 %}, step {{ approval.step.number }} of {{ approval.step.of }}"
        "{% endif %}"
    ),
}


class Templates:
    def __init__(self, storefront_url: str):
        # Undefined names fail loudly: a template that refers to something the mapping no longer gives
        # is a bug to see in tests, not an empty line in a customer's mail.
        self._html = Environment(
            loader=PackageLoader("shop_notifications", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._text = Environment(
            loader=PackageLoader("shop_notifications", "templates"),
            autoescape=False,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        for env in (self._html, self._text):
            env.globals.update(money=format_money, storefront_url=storefront_url.rstrip("/"))
        # A subject is a header, never HTML: rendered without escaping (CR/LF are removed below).
        self._subjects = {kind: self._text.from_string(source) for kind, source in SUBJECTS.items()}

    def render(self, notice: Notice) -> Rendered:
        context = {"order": notice.order, "recipient": notice.recipient, **notice.details}
        subject = " ".join(self._subjects[notice.kind].render(context).split())
        text = self._text.get_template(f"{notice.kind.value}.txt").render(context)
        html = self._html.get_template(f"{notice.kind.value}.html").render(context)
        return Rendered(subject, text, html)
