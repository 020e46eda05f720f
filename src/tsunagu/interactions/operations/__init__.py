"""FHIR operations (`$name`): one module per operation, each with its OperationDefinition.

To add one: write `operations/<name>.py` with a handler `(ctx, req, ...) -> FhirResponse` and
a `DEFINITION` dict (an OperationDefinition resource; `DEFINITIONS` when the module serves
several), then add its route line to `interactions/router.py` and the module to
`_OPERATION_MODULES` there. The CapabilityStatement lists every definition in `OPERATIONS`.
"""
