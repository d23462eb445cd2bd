"""The back office: what operators do (orders, stock, fraud reviews, prices, product imports), as use cases
shared by the HTTP routes (`httpapi.backoffice`) and the gRPC BackOfficeService (`grpc_backoffice`).

The use cases take and return the services' own messages (shop.order.v1.Order, shop.pricing.v1.PriceList,
...): the gRPC face serves them as they are, the HTTP face turns them into JSON with `protojson`. Every
use case checks the caller's role first (admin; fraud_analyst for the review queue), then the gateway's
own bounds, then calls one service with the caller's identity (which checks the role again).
"""
