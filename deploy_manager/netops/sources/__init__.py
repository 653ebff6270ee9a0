"""Parsers of the NetOps source formats: Ansible run output and inventory snapshots."""
