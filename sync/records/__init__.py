"""What persists between runs: the ownership state, the audit log, the delta cursor, and the local-
or-S3 documents they live in."""
