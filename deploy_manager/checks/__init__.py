"""Data-quality and lateness checks of the marts and KPI aggregates (see catalog.py)."""
