"""Registry work: references, credentials, the HTTP API client, push and publish, lock files."""
