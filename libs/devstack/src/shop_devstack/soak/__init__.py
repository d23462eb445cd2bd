"""The soak suite (`shop-dev soak`, `make soak`): a whole stack under a steady, realistic load for a long
time (by default 30 minutes at 70 % of the maximum measured at the start), with every process's memory,
file descriptors and connections and PostgreSQL's backends sampled throughout; the first and last windows
after a warm-up are compared, and so are the latencies of the first and last minutes."""
