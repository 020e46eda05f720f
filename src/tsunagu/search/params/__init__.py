"""One module per search parameter type; each owns what it indexes and how it is queried.

Every module has the same shape: `TABLE` and `COLUMNS` (its index table), `rows(values)`
(index rows from the values a parameter's expression extracted) and `condition(alias, value,
modifier, spec)` (the SQL that matches one search value against that table).
"""
