"""Everything that talks to AWS Identity Center and Organizations: the Identity Store and SSO Admin
readers and writers, the Organization reader, paging, retry and the shared rate limit."""
