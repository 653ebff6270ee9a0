"""Shared ingest machinery: landing-folder scan, text cleaning, quarantine and bulk loads."""
