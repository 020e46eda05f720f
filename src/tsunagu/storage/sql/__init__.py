"""The SQL adapter of the storage port: one repository, two dialects."""
