"""How much of the demo data set a stack seeds. Apart from `seed`, which imports gRPC: the CLI reads
these before `shop-dev run` sets gRPC's fork option."""

DEMO_PRODUCTS = 1000
# The test stacks' catalog: every category and brand, and each search term the tests type, in
# under half the seed's time (its stock rows and their events are what take it).
TEST_DEMO_PRODUCTS = 200
