"""Alerts: failed checks, late sites and KPI thresholds recorded in ops.alerts and sent to a
webhook by the alert sensor."""
