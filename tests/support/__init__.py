"""Test support: real services (PostgreSQL, Redis) found or started on loopback, and helpers."""
