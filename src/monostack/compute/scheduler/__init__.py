"""Scheduling: Placement proposes hosts with room (allocation candidates), the
filters drop hosts the server may not go to, the weighers order the rest, and
the first host whose allocation claim succeeds wins (see manager.py)."""
