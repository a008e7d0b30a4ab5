"""Monostack Networking (Neutron v2.0): API, service layer and database; dataplane/ touches the host."""
