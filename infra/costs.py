"""What a stage costs a month, by preset and volume, beside CloudWatch Logs for the same logs.

One model, so docs/deploy.md's table is computed, not typed: ``python -m infra.costs`` prints it and
tests/unit/test_costs.py checks the guide still shows what the model says. us-east-1 list prices
(on-demand, checked in June 2026 against AWS's pricing pages); every assumption is a named constant
below. Free tiers are left out, and so are data transfer out and support.

The assumptions that matter most:
- a record is 500 bytes as sent, 650 bytes as a lake row (every column, the seal), and 60 bytes in
  Parquet with zstd after compaction (log text compresses about 10x); 700 bytes in PostgreSQL with
  its indexes (README "Performance": 660 MiB per million rows);
- clients send 200 records per request (the Python and JavaScript clients batch);
- the lake keeps 365 days; PostgreSQL its preset's hot window (30 days); CloudWatch Logs keeps 365
  days too, stored compressed at about 6x (gzip);
- 200 questions a day; a lake question reads one day of 3 of its 33 columns (Athena prunes
  partitions and columns), a CloudWatch Logs Insights question scans one day of ingested bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

DAYS_PER_MONTH: Final = 30.4
GB: Final = 1e9  # AWS bills decimal gigabytes

# The workload
RECORD_BYTES: Final = 500
LAKE_ROW_BYTES: Final = 650
PARQUET_BYTES: Final = 60
POSTGRES_BYTES: Final = 700
RECORDS_PER_REQUEST: Final = 200
LAKE_RETENTION_DAYS: Final = 365
HOT_DAYS: Final = 30
QUESTIONS_PER_DAY: Final = 200
QUESTION_COLUMN_SHARE: Final = 3 / 33
CLOUDWATCH_COMPRESSION: Final = 6.0

# Prices, us-east-1
API_USD_PER_MILLION: Final = 3.50
LAMBDA_USD_PER_GB_SECOND: Final = 0.0000133334  # arm64
LAMBDA_USD_PER_MILLION: Final = 0.20
COLLECT_SECONDS_PER_REQUEST: Final = 0.08  # 512 MB, validate + redact + PutRecordBatch of 200 records
LOAD_SECONDS_PER_MILLION_ROWS: Final = 60.0  # 1,024 MB; bench/ingest.py's loader rate with margin
GATE_USD_PER_GB_SEALED: Final = 0.0022  # bench/lake_gate.py: rows collect or load sealed, MAC checked
FIREHOSE_S3_USD_PER_GB: Final = 0.029  # Direct PUT to S3 (the raw/ stream; records packed to ~1 MB)
FIREHOSE_ICEBERG_USD_PER_GB: Final = 0.075  # Direct PUT to Apache Iceberg tables, no 5 KB rounding
S3_USD_PER_GB_MONTH: Final = 0.023
ATHENA_USD_PER_TB: Final = 5.0
ATHENA_MIN_BYTES: Final = 10 * 1024**2
GLUE_DPU_HOUR_USD: Final = 0.44
COMPACTION_GB_PER_DPU_HOUR: Final = 50.0  # Parquet rewritten per DPU-hour by Glue's managed compaction
KMS_KEY_USD_MONTH: Final = 1.0
SECRET_USD_MONTH: Final = 0.40
CLOUDWATCH_INGEST_USD_PER_GB: Final = 0.50
CLOUDWATCH_STORAGE_USD_PER_GB_MONTH: Final = 0.03
CLOUDWATCH_INSIGHTS_USD_PER_GB: Final = 0.005
# PostgreSQL presets: RDS for PostgreSQL on-demand per hour (Multi-AZ bills two), gp3 per GB-month,
# RDS Proxy per vCPU-hour, interface endpoints per AZ-hour (5 endpoints in 2 AZs).
RDS_GP3_USD_PER_GB_MONTH: Final = 0.115
PROXY_USD_PER_VCPU_HOUR: Final = 0.015
ENDPOINT_USD_PER_AZ_HOUR: Final = 0.01
INTERFACE_ENDPOINTS: Final = 5


@dataclass(frozen=True)
class DatabasePreset:
    name: str
    instance: str
    usd_per_hour: float
    vcpus: int
    max_records_per_day: int
    multi_az: bool = True


# What infra/config.py's capacity presets deploy (the volume presets; instance prices as above).
DATABASE_PRESETS: Final = (
    DatabasePreset("small", "db.t4g.large", 0.129, 2, 5_000_000),
    DatabasePreset("medium", "db.r7g.xlarge", 0.479, 4, 50_000_000),
    DatabasePreset("large", "db.r7g.2xlarge", 0.958, 8, 200_000_000),
)
VOLUMES: Final = (1_000_000, 50_000_000, 1_000_000_000)


@dataclass
class Bill:
    lines: dict[str, float] = field(default_factory=dict)

    def add(self, what: str, usd: float) -> None:
        self.lines[what] = self.lines.get(what, 0.0) + usd

    @property
    def total(self) -> float:
        return sum(self.lines.values())


def _monthly_gb(records_per_day: int, bytes_each: int) -> float:
    return records_per_day * bytes_each * DAYS_PER_MONTH / GB


def _athena_question_usd(records_per_day: int) -> float:
    scanned = records_per_day * PARQUET_BYTES * QUESTION_COLUMN_SHARE
    billed = max(ATHENA_MIN_BYTES, math.ceil(scanned / 1024**2) * 1024**2)
    return billed / 1024**4 * ATHENA_USD_PER_TB


def _ingest(bill: Bill, records_per_day: int) -> None:
    requests = records_per_day / RECORDS_PER_REQUEST * DAYS_PER_MONTH
    bill.add("API Gateway", requests / 1e6 * API_USD_PER_MILLION)
    bill.add(
        "collect (Lambda)",
        requests * COLLECT_SECONDS_PER_REQUEST * 0.5 * LAMBDA_USD_PER_GB_SECOND
        + requests / 1e6 * LAMBDA_USD_PER_MILLION,
    )


def _lake(bill: Bill, records_per_day: int) -> None:
    lake_gb = _monthly_gb(records_per_day, LAKE_ROW_BYTES)
    bill.add("Firehose → Iceberg", lake_gb * FIREHOSE_ICEBERG_USD_PER_GB)
    bill.add("lakegate (Lambda)", lake_gb * GATE_USD_PER_GB_SEALED)
    stored_gb = records_per_day * PARQUET_BYTES * LAKE_RETENTION_DAYS / GB
    bill.add("S3 (Iceberg table)", stored_gb * S3_USD_PER_GB_MONTH)
    compacted_gb = _monthly_gb(records_per_day, PARQUET_BYTES)
    bill.add("Glue compaction", compacted_gb / COMPACTION_GB_PER_DPU_HOUR * GLUE_DPU_HOUR_USD)
    bill.add("Athena", _athena_question_usd(records_per_day) * QUESTIONS_PER_DAY * DAYS_PER_MONTH)
    bill.add("KMS, Secrets Manager", 1 * KMS_KEY_USD_MONTH + 3 * SECRET_USD_MONTH)


def lake_only(records_per_day: int) -> Bill:
    bill = Bill()
    _ingest(bill, records_per_day)
    _lake(bill, records_per_day)
    return bill


def with_database(preset: DatabasePreset, records_per_day: int) -> Bill:
    """A PostgreSQL preset with the lake on (load forwards to the lake: no gate validation)."""
    bill = Bill()
    _ingest(bill, records_per_day)
    hours = 24 * DAYS_PER_MONTH
    copies = 2 if preset.multi_az else 1
    bill.add(f"RDS {preset.instance}", preset.usd_per_hour * hours * copies)
    hot_gb = records_per_day * POSTGRES_BYTES * HOT_DAYS * 1.2 / GB
    bill.add("RDS storage (gp3)", max(20.0, hot_gb) * RDS_GP3_USD_PER_GB_MONTH * copies)
    bill.add("RDS Proxy", max(2, preset.vcpus) * PROXY_USD_PER_VCPU_HOUR * hours)
    bill.add("VPC endpoints", INTERFACE_ENDPOINTS * 2 * ENDPOINT_USD_PER_AZ_HOUR * hours)
    bill.add("Firehose → S3 raw/", _monthly_gb(records_per_day, RECORD_BYTES) * FIREHOSE_S3_USD_PER_GB)
    bill.add("S3 raw/ (35 days)", records_per_day * RECORD_BYTES / 8 * 35 / GB * S3_USD_PER_GB_MONTH)
    rows = records_per_day * DAYS_PER_MONTH
    bill.add(
        "load (Lambda)",
        rows / 1e6 * LOAD_SECONDS_PER_MILLION_ROWS * 1.0 * LAMBDA_USD_PER_GB_SECOND,
    )
    bill.add("KMS, Secrets Manager", 2 * KMS_KEY_USD_MONTH + 4 * SECRET_USD_MONTH)
    _lake(bill, records_per_day)
    return bill


def cloudwatch_logs(records_per_day: int) -> Bill:
    bill = Bill()
    ingested_gb = _monthly_gb(records_per_day, RECORD_BYTES)
    bill.add("ingestion", ingested_gb * CLOUDWATCH_INGEST_USD_PER_GB)
    stored_gb = records_per_day * RECORD_BYTES * LAKE_RETENTION_DAYS / CLOUDWATCH_COMPRESSION / GB
    bill.add("storage", stored_gb * CLOUDWATCH_STORAGE_USD_PER_GB_MONTH)
    per_question_gb = records_per_day * RECORD_BYTES / GB
    bill.add("Logs Insights", per_question_gb * CLOUDWATCH_INSIGHTS_USD_PER_GB * QUESTIONS_PER_DAY * DAYS_PER_MONTH)
    return bill


def _volume(records_per_day: int) -> str:
    return f"{records_per_day / 1e9:g}B" if records_per_day >= 1e9 else f"{records_per_day / 1e6:g}M"


def _usd(value: float) -> str:
    return f"${value:,.0f}" if value >= 10 else f"${value:,.2f}"


def markdown_table() -> str:
    """The guide's table: one row per preset, one column per volume (— where the preset does not reach)."""
    header = "| preset | " + " | ".join(f"{_volume(v)} records/day" for v in VOLUMES) + " |"
    lines = [header, "| --- |" + " ---: |" * len(VOLUMES)]
    lines.append("| lake-only | " + " | ".join(_usd(lake_only(v).total) for v in VOLUMES) + " |")
    for preset in DATABASE_PRESETS:
        cells = [
            _usd(with_database(preset, v).total) if v <= preset.max_records_per_day else "— (over capacity)"
            for v in VOLUMES
        ]
        lines.append(f"| {preset.name} + lake | " + " | ".join(cells) + " |")
    lines.append("| CloudWatch Logs | " + " | ".join(_usd(cloudwatch_logs(v).total) for v in VOLUMES) + " |")
    return "\n".join(lines)


def breakdown_table(records_per_day: int) -> str:
    """Where a lake-only stage's money goes at one volume."""
    bill = lake_only(records_per_day)
    lines = ["| item | per month |", "| --- | ---: |"]
    lines += [f"| {what} | {_usd(usd)} |" for what, usd in bill.lines.items()]
    lines.append(f"| **total** | **{_usd(bill.total)}** |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
    print()
    print(breakdown_table(1_000_000_000))
