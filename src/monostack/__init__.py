"""Monostack: an OpenStack-compatible IaaS cloud."""

__version__ = "0.1.0"
