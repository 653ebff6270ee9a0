"""Deployment Manager: deployment and 5G core analytics for network operations teams."""

from deploy_manager.instance_env import apply_instance_env

# Before any Dagster instance of this process creates a run or writes an event.
apply_instance_env()
