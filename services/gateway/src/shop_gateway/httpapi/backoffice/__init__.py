"""The back office over HTTP: /v1/admin/... routes for staff (role admin), and the fraud review queue's
reads under /v1/reviews (fraud_analyst or admin). `ROUTERS` are included by `httpapi.routes.create_app`."""
