"""Fixtures of the service tests: two tenants, a principal per role in each."""

from __future__ import annotations

import pytest
from service_helpers import Side, make_side

from jikimi.config import Settings
from jikimi.services import BankService
from jikimi.store import Store


@pytest.fixture
def acme(store: Store) -> Side:
    return make_side(store, "acme")


@pytest.fixture
def bravo(store: Store) -> Side:
    return make_side(store, "bravo")


@pytest.fixture
def banks(store: Store, settings: Settings) -> BankService:
    return BankService(store, settings=settings)
