"""FHIR REST semantics, free of HTTP: (FhirRequest, Context) -> FhirResponse."""
