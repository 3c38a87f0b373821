"""The ingest path: collect (HTTP → validated NDJSON → a sink) and load (raw objects → PostgreSQL)."""
