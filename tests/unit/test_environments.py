"""Each Lambda's environment model: what it requires, and how it says what is missing or wrong."""

from __future__ import annotations

import pytest

from loglens.environments import (
    ArchiveEnvironment,
    AskEnvironment,
    CollectEnvironment,
    LoadEnvironment,
    MaintainEnvironment,
    MigrateEnvironment,
    QueryEnvironment,
)
from loglens.settings import ConfigError

PROXY = {"DB_HOST": "proxy.example", "DB_NAME": "loglens", "DB_USER": "loglens_writer", "AWS_REGION": "eu-west-1"}


def test_collect_needs_its_stream_and_a_key_source() -> None:
    env = CollectEnvironment.from_env({"FIREHOSE_STREAM_NAME": "raw", "LOGLENS_ENVELOPE_SECRET_ARN": "arn:x"})
    assert env.firehose_stream_name == "raw" and env.settings.cors_origin == "*"
    with pytest.raises(ConfigError, match="FIREHOSE_STREAM_NAME is required but not set"):
        CollectEnvironment.from_env({"LOGLENS_ENVELOPE_KEY": "k"})
    with pytest.raises(ConfigError, match="LOGLENS_ENVELOPE_SECRET_ARN"):
        CollectEnvironment.from_env({"FIREHOSE_STREAM_NAME": "raw"})


def test_a_database_is_a_url_or_the_whole_proxy_address() -> None:
    assert MaintainEnvironment.from_env({"DATABASE_URL": "postgresql://x"}).conninfo_factory()() == "postgresql://x"
    assert MaintainEnvironment.from_env(PROXY).db_port == 5432
    with pytest.raises(ConfigError, match="DB_NAME, DB_USER must be set"):
        MaintainEnvironment.from_env({"DB_HOST": "h", "AWS_REGION": "eu-west-1"})
    with pytest.raises(ConfigError, match="DB_IAM_AUTH must be true"):
        MaintainEnvironment.from_env({**PROXY, "DB_IAM_AUTH": "false"})
    with pytest.raises(ConfigError, match=r"DB_PORT='five'"):
        MaintainEnvironment.from_env({**PROXY, "DB_PORT": "five"})


def test_core_settings_ride_along_and_fail_with_their_own_variable() -> None:
    env = ArchiveEnvironment.from_env({**PROXY, "ARCHIVE_BUCKET": "b", "LOGLENS_RETENTION_DAYS": "7"})
    assert env.settings.retention_days == 7
    with pytest.raises(ConfigError, match="LOGLENS_RETENTION_DAYS"):
        ArchiveEnvironment.from_env({**PROXY, "ARCHIVE_BUCKET": "b", "LOGLENS_RETENTION_DAYS": "-1"})


@pytest.mark.parametrize(
    ("model", "needs"),
    [
        (LoadEnvironment, "RAW_BUCKET"),
        (ArchiveEnvironment, "ARCHIVE_BUCKET"),
        (AskEnvironment, "CONVERSATION_DB_USER"),
        (QueryEnvironment, "SAVED_DB_USER"),
    ],
)
def test_each_function_names_its_missing_variable(model: type, needs: str) -> None:
    with pytest.raises(ConfigError, match=f"{needs} is required but not set"):
        model.from_env({**PROXY, "LOGLENS_ENVELOPE_KEY": "k"})


def test_migrate_connects_directly_with_the_master_secret() -> None:
    env = MigrateEnvironment.from_env({"DB_HOST": "db", "DB_PORT": "5433", "DB_NAME": "n", "DB_SECRET_ARN": "arn"})
    assert (env.db_host, env.db_port, env.db_name) == ("db", 5433, "n")
    with pytest.raises(ConfigError, match="DB_SECRET_ARN is required but not set"):
        MigrateEnvironment.from_env({"DB_HOST": "db", "DB_NAME": "n"})


def test_the_console_link_for_slack_must_be_https() -> None:
    base = {**PROXY, "CONVERSATION_DB_USER": "loglens_writer"}
    assert AskEnvironment.from_env(base).console_url is None
    url = "https://d111111abcdef8.cloudfront.net"
    assert AskEnvironment.from_env({**base, "LOGLENS_CONSOLE_URL": url}).console_url == url
    with pytest.raises(ConfigError, match="LOGLENS_CONSOLE_URL"):
        AskEnvironment.from_env({**base, "LOGLENS_CONSOLE_URL": "javascript:alert(1)"})
