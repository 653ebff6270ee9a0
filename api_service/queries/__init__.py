"""Queries that turn the rows of the marts into API responses, one module per domain."""
