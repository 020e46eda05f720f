"""The Starlette adapter: HTTP <-> FhirRequest / FhirResponse."""
