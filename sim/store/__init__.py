"""The results database (SQLAlchemy: SQLite or PostgreSQL) and the export of stored sweeps."""
