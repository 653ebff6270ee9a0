"""The demo: real Ansible runs and generated history through the whole platform."""
