"""The REST API under /api/v1: route table, schemas, handlers and the OpenAPI document."""
