"""`shop-dev chaos` (`make chaos`): checkouts through the gateway while the stack's processes are SIGKILLed,
then the invariants read from every database (see docs/reliability.md).

command (`shop-dev chaos`), runner (one run), storefront (the buyers, retrying as a storefront would),
killer (SIGKILL and recovery times), facts (what the databases and NATS say afterwards), invariants
(the promises, counted), report.
"""
