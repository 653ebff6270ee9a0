"""Deployment Manager: deployment and 5G core analytics for network operations teams."""
