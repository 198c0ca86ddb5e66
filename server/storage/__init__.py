"""Storage: SQLAlchemy 2 (async) tables, the engine, and Alembic migrations.

Only storage imports SQLAlchemy; services call it through the functions and models here.
"""
