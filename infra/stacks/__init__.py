"""Stacks split by lifecycle: network, data (everything stateful), ingest, maintenance, analysis, observability."""
