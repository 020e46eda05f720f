"""Search tests: many read-only queries against one fixed Japanese clinical data set."""

import pytest

# Detailed assertion messages from the shared checks.
pytest.register_assert_rewrite("tests.api.search.support")
