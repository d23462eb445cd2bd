"""Pure fraud logic, no I/O: the purchase and its counter keys, the rules, the model, scoring and the
review state machine."""
