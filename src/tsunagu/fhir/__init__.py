"""FHIR R4 vocabulary: pure functions and data, no I/O beyond reading vendored definitions."""
