"""The aggregator: one Beacon v2 endpoint in front of many member beacons."""
