"""REST API of the platform: KPIs read from the ORC files of the Hive marts with pyarrow."""
