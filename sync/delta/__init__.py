"""Delta runs: turn Google's change feed into hints, read the slice they name from both sides, and
plan and apply only that."""
