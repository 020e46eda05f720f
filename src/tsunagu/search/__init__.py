"""FHIR search: parameters, index extraction, query planning; pure (SQL only as data)."""
