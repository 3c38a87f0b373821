"""The cost model behind docs/deploy.md: the guide shows what it computes, and its numbers move the right way."""

from __future__ import annotations

import pytest

from infra.costs import (
    DATABASE_PRESETS,
    VOLUMES,
    breakdown_table,
    cloudwatch_logs,
    lake_only,
    markdown_table,
    with_database,
)
from infra.paths import REPO_ROOT

GUIDE = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def test_the_deploy_guide_shows_what_the_model_computes() -> None:
    assert markdown_table() in GUIDE, "run: .venv/bin/python -m infra.costs and paste the table into docs/deploy.md"
    assert breakdown_table(1_000_000_000) in GUIDE


@pytest.mark.parametrize("records", VOLUMES)
def test_every_bill_grows_with_volume_and_the_lake_is_in_each(records: int) -> None:
    assert lake_only(records * 2).total > lake_only(records).total
    assert cloudwatch_logs(records * 2).total == pytest.approx(2 * cloudwatch_logs(records).total)
    for preset in DATABASE_PRESETS:
        bill = with_database(preset, records)
        assert {"Firehose → Iceberg", "S3 (Iceberg table)", "Athena"} <= set(bill.lines)
        assert bill.total > lake_only(records).total  # the database, its proxy and the VPC endpoints on top


def test_the_lake_only_stage_is_cheaper_than_cloudwatch_logs_at_every_volume() -> None:
    for records in VOLUMES:
        assert lake_only(records).total < cloudwatch_logs(records).total


def test_a_small_stage_is_dominated_by_fixed_costs() -> None:
    bill = with_database(DATABASE_PRESETS[0], 1_000_000)
    fixed = sum(v for k, v in bill.lines.items() if k.startswith(("RDS", "VPC")))
    assert fixed / bill.total > 0.9
