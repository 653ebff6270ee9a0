"""Dagster resources: the Spark session and the raw-layer database."""
