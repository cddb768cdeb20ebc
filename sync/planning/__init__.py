"""The pure core: from snapshots, rules and state to a plan of typed operations, and the safeguards
that refuse one. No I/O, no clock, no AWS or Google client."""
