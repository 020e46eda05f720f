"""The validator as the server builds it (vendored packages, package terminology). Modules
that need another one define their own `validator` fixture, which takes precedence."""

from __future__ import annotations

import pytest

from tsunagu.bootstrap import build_validator
from tsunagu.settings import Settings
from tsunagu.validation.validator import Validator


@pytest.fixture(scope="module")
def validator() -> Validator:
    found = build_validator(Settings(validation=True))
    assert isinstance(found, Validator)
    return found
