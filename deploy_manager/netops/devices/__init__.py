"""Network device health and configuration drift: monitor samples, backups, golden configs.

``load`` writes raw.device_metrics, raw.config_backups and raw.config_drift. ``metrics``,
``config_backups``, ``normalise`` and ``drift`` are pure Python and touch no database.
"""
