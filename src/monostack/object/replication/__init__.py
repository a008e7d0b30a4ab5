"""The storage nodes' background daemons: replicator, auditor, updaters (see daemons.py)."""
