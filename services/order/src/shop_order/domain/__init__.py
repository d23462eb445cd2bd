"""The order domain: plain data (`model`), the state machine (`machine`) and the decisions of every
command (`decisions`). No I/O."""
