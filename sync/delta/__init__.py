"""Delta runs: read Google's change feed since the last one and hand what it names to a run that
reads, plans and applies only that slice."""
