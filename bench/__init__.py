"""Tsunagu benchmark: API throughput and latency beside a raw-database baseline.

Run it with ``python -m bench`` (see bench/README.md). Every figure is measured twice in the same
run: once through Tsunagu (a real ``tsunagu serve`` process, or the storage layer for bulk
loading) and once against a plain table in the same database through the same dialect
connection, so the ratio shows what the FHIR layers cost on top of the database itself.
"""
