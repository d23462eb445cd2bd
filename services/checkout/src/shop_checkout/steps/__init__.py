"""The calls behind each saga step and each compensation, and how their answers map to outcomes.

`executor.StepExecutor` runs a step or its undo by kind; the calls themselves are grouped by the
peer they talk to (`pricing`, `fraud`, `inventory`, `payment` for the payment provider, `order`,
`cart`), with the customer's messages that several of them give in `messages`.
"""
