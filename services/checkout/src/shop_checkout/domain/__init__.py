"""The checkout domain: the aggregate (`model`), the saga state machine (`saga`) and rules. No I/O."""
