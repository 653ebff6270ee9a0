"""Schedules and sensors that run the platform without a person: the daily run, site
registration and landing pick-up."""
