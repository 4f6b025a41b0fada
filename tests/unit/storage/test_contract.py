"""The repository contract on the in-memory twin and on the DynamoDB adapter over moto (tables from template.yaml)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lemtrada.storage.repository import DynamoPatientRepository

from tests.support.memory import InMemoryPatientRepository
from tests.unit.storage.contract import RepositoryContract
from tests.unit.storage.tables import moto_regimen_table

SHARDS = 4


class TestInMemoryRepository(RepositoryContract):
    @pytest.fixture
    def repo(self) -> InMemoryPatientRepository:
        return InMemoryPatientRepository(due_shards=SHARDS)


class TestDynamoRepositoryOnMoto(RepositoryContract):
    @pytest.fixture
    def repo(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoPatientRepository]:
        monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        with moto_regimen_table() as table_name:
            yield DynamoPatientRepository(table_name, region="us-east-1", due_shards=SHARDS)


def test_due_shards_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUE_SHARDS", "8")
    assert InMemoryPatientRepository().due_shards == 8
    monkeypatch.delenv("DUE_SHARDS")
    assert InMemoryPatientRepository().due_shards == 16
    monkeypatch.setenv("DUE_SHARDS", "0")
    with pytest.raises(ValueError, match="DUE_SHARDS"):
        InMemoryPatientRepository()
