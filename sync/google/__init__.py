"""Everything that talks to Google: API plumbing and retries, the Directory API reader, keyless
credentials, and the Reports API change feed."""
