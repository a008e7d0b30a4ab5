"""Placement: resource providers, inventories, traits, aggregates, allocations and allocation
candidates (the OpenStack Placement API, microversions 1.0 to 1.39)."""
