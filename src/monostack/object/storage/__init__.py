"""The storage servers (account, container, object) of a node, and what they keep on disk."""
