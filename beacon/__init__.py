"""GA4GH Beacon v2 node, ingest and network."""
