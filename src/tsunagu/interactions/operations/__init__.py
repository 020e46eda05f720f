"""FHIR operations (`$name`): one module per operation, each with its OperationDefinition.

To add one: write `operations/<name>.py` with a handler `(ctx, req, ...) -> FhirResponse` and
an `DEFINITION` dict (an OperationDefinition resource), then add its route line to
`interactions/router.py`. The CapabilityStatement lists every module in `OPERATIONS`.
"""
