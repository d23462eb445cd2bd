"""The approval chain of a B2B checkout, resolved once the quote gives the total and before anything
is reserved: the lines' categories from catalog (one batched call), then customers'
ResolveApprovalChain with the total, the buyer's cost centre and whether the order alone exceeds the
buyer's per-order limit. (A period limit is weighed when the quote is recorded, under the buyer's
lock; exceeded while no rule asks for a step, it adds the "spending limit" step: saga.approval_chain.)
"""

from __future__ import annotations

import grpc

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2
from shop_checkout import mapping
from shop_checkout.domain import rules
from shop_checkout.domain.model import ApprovalChain, ApprovalStep, Checkout
from shop_checkout.peers import PeerError, Peers
from shopkit.money import Money


async def resolve(peers: Peers, c: Checkout, total: Money) -> ApprovalChain | None:
    """The chain the account's rules give this order; None for consumers and for an account the
    customers service does not know (its buyers' limits alone then decide). A peer that cannot be
    reached raises PeerError (transient): the quote step is retried, then fails before reserving."""
    request = c.request
    account_id = request.customer.account_id
    if not account_id:
        return None
    skus = sorted({line.sku for line in c.cart.lines})
    variants = await peers.call(
        "catalog", peers.catalog.BatchGetVariants, catalog_pb2.BatchGetVariantsRequest(skus=skus)
    )
    categories = sorted({view.category_id for view in variants.variants if view.category_id})
    try:
        chain = await peers.call(
            "customers",
            peers.customers.ResolveApprovalChain,
            customers_pb2.ResolveApprovalChainRequest(
                account_id=account_id,
                buyer_user_id=request.customer.customer_id,
                total=mapping.money_pb(total),
                cost_centre=request.cost_centre,
                category_ids=categories,
                over_limit=rules.over_order_limit(request, total),
            ),
        )
    except PeerError as exc:
        if exc.code is grpc.StatusCode.NOT_FOUND:
            return None
        raise
    return chain_from_pb(chain)


def chain_from_pb(chain: common_pb2.ApprovalChain) -> ApprovalChain:
    return ApprovalChain(
        tuple(ApprovalStep(s.name, s.rule_id, tuple(s.approvers), s.quorum or 1) for s in chain.steps),
        chain.hold_days,
    )


def chain_pb(chain: ApprovalChain) -> common_pb2.ApprovalChain:
    return common_pb2.ApprovalChain(
        steps=[
            common_pb2.ApprovalStep(name=s.name, rule_id=s.rule_id, approvers=s.approvers, quorum=s.quorum)
            for s in chain.steps
        ],
        hold_days=chain.hold_days,
    )
