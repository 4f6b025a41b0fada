"""The environment is parsed once into Settings; a missing variable fails with its name, with no silent default."""

from __future__ import annotations

import pytest
from lemtrada import bootstrap
from lemtrada.bootstrap import Settings, SettingsError

from tests.support.memory import InMemoryOutbox, InMemoryPatientRepository

ENV = {
    "TABLE_NAME": "regimen-test",
    "IDEMPOTENCY_TABLE_NAME": "idempotency-test",
    "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:digest-test",
    "DUE_SHARDS": "16",
    "AWS_REGION": "eu-west-1",
}


def test_the_functions_environment_parses() -> None:
    settings = Settings.from_environment({**ENV, "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000", "X": "y"})
    assert settings.table_name == "regimen-test"
    assert settings.due_shards == 16
    assert settings.region == "eu-west-1"
    assert settings.dynamodb_endpoint == "http://127.0.0.1:8000"
    assert Settings.from_environment(ENV).dynamodb_endpoint is None


@pytest.mark.parametrize("missing", sorted(ENV))
def test_a_missing_variable_fails_naming_it(missing: str) -> None:
    environ = {name: value for name, value in ENV.items() if name != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_environment(environ)
    with pytest.raises(SettingsError, match=missing):
        Settings.from_environment({**environ, missing: ""})  # empty is missing too


@pytest.mark.parametrize("shards", ["0", "101", "many"])
def test_a_bad_shard_count_fails_at_start(shards: str) -> None:
    with pytest.raises(SettingsError, match="DUE_SHARDS"):
        Settings.from_environment({**ENV, "DUE_SHARDS": shards})


def test_one_override_replaces_the_parts_and_use_restores_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    repository, outbox = InMemoryPatientRepository(due_shards=4), InMemoryOutbox()
    bootstrap.use(repository=repository, outbox=outbox, clock=lambda: None)  # type: ignore[arg-type,return-value]
    try:
        assert bootstrap.repository() is repository
        assert bootstrap.outbox() is outbox
        assert bootstrap.clock()() is None
    finally:
        bootstrap.use()
    with pytest.raises(SettingsError, match="TABLE_NAME"):
        bootstrap.repository()  # the real one needs the environment: no default table or region


def test_the_error_names_the_variable_and_echoes_no_value() -> None:
    environ = {**ENV, "DUE_SHARDS": "many", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}
    del environ["TABLE_NAME"]
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment(environ)
    message = str(raised.value)
    assert "TABLE_NAME" in message
    assert "DUE_SHARDS" in message
    assert "s3cr3t-value" not in message
    assert "many" not in message


def test_one_client_serves_the_repository_and_the_idempotency_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """A write builds one DynamoDB client, from one botocore session: the cold start parses the model once."""
    from lemtrada.web import idempotency

    for name, value in {**ENV, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}.items():
        monkeypatch.setenv(name, value)
    bootstrap.use()
    idempotency.reset()
    try:
        client = bootstrap.dynamodb()
        assert bootstrap.repository()._client.get() is client  # type: ignore[attr-defined]
        assert idempotency._persistence().client is client
        assert client.meta.region_name == "eu-west-1"
        assert client.meta.config.retries["mode"] == "standard"  # type: ignore[attr-defined]
        assert bootstrap.dynamodb() is client
        assert bootstrap.aws_session() is bootstrap.aws_session()
    finally:
        bootstrap.use()
        idempotency.reset()


def test_the_worklist_url_is_optional_and_checked() -> None:
    assert Settings.from_environment(ENV).worklist_url is None
    assert Settings.from_environment({**ENV, "WORKLIST_URL": ""}).worklist_url is None  # the template's default
    url = "https://clinicians.example/clinics/{clinic_id}/worklist"
    assert Settings.from_environment({**ENV, "WORKLIST_URL": url}).worklist_url == url
    with pytest.raises(SettingsError, match="WORKLIST_URL"):
        Settings.from_environment({**ENV, "WORKLIST_URL": "javascript:alert(1)"})
