"""Redaction end to end: secrets sent in several places are stored nowhere, counts are kept."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from loglens.db.connect import connect
from tests.e2e.conftest import LocalStack
from tests.e2e.test_local_ingest import post

SECRETS = [
    "alice@example.com",
    "4111 1111 1111 1111",
    "hunter2-very-secret",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "sk_live_51Habcdef0123456789",
]


def test_a_batch_full_of_secrets_is_stored_without_them(stack: LocalStack, unique_service: str) -> None:
    now = datetime.now(UTC).isoformat()
    logs = [
        {
            "timestamp": now,
            "level": "ERROR",
            "service": unique_service,
            "event_id": str(uuid.uuid4()),
            "message": f"charge failed for {SECRETS[0]} card {SECRETS[1]} password={SECRETS[2]}",
            "stack_trace": f'Traceback...\n  File "pay.py", line 3\nAuthError: key {SECRETS[3]} rejected',
            "user_id": SECRETS[0],
            "metadata": {
                "request": {"headers": {"Authorization": f"Bearer {SECRETS[4]}"}},
                "api_key": SECRETS[5],
                "order_id": "4111111111111112",
                "trace": "0af7651916cd43dd8448eb211c80319c",
            },
        },
        {
            "timestamp": now,
            "level": "INFO",
            "service": unique_service,
            "event_id": str(uuid.uuid4()),
            "message": "nothing to hide here: order 4111111111111112 version 1.2.3",
        },
    ]
    status, _, body = post(stack, "/api/v1/logs/batch", {"logs": logs})
    assert (status, json.loads(body)["accepted"]) == (200, 2)
    assert stack.wait_for_rows(f"service = '{unique_service}'", 2) == 2
    with connect(stack.db_url) as conn:
        rows = conn.execute(
            "SELECT to_jsonb(l)::text, metadata->'redactions' FROM logs l WHERE service = %s ORDER BY level",
            (unique_service,),
        ).fetchall()
    stored = " ".join(row[0] for row in rows)
    for secret in SECRETS:
        assert secret not in stored, secret
    assert "4111111111111112" in stored  # an order id that fails the Luhn check survives
    assert "0af7651916cd43dd8448eb211c80319c" in stored
    error_counts, info_counts = rows[0][1], rows[1][1]
    assert info_counts is None
    assert error_counts["email"] == 2 and error_counts["card"] == 1 and error_counts["sensitive_key"] >= 2
