"""The ask function's state on a lake-only stage: one DynamoDB table instead of PostgreSQL's three.

A lake-only stage has no PostgreSQL, and the ask path still keeps state that outlives a request:
conversation turns (follow-ups), the answers of HTTP asks that outlive API Gateway's 29 s (202 + GET
polling), and Slack replay claims. `DynamoAskState` serves the same three interfaces the PostgreSQL stores
do (``Conversations``, ``AnswerStore``, ``ReplayGuard``) from one on-demand table, which costs nothing while
no one asks, needs no VPC and no connection, and forgets on its own (a TTL on ``expires_at``).

Items (``pk``, ``sk``):
- a turn: ``conversation#<key>``, ``turn#<created_at, ISO UTC>#<random>``; read newest first, bounded by
  the key condition to turns newer than the conversation's age, so an expired turn that TTL has not yet
  deleted is never read. Kept two days (the longest conversation age is a day).
- an HTTP ask: ``ask#<id>#<requester>``, ``running`` then ``outcome``. The outcome is written once (a
  condition on the item), the body zlib-compressed JSON. DynamoDB items stop at 400 KB: an answer whose
  rows do not fit even compressed is stored with fewer rows and ``row_limit_reached`` set, so the person
  learns the rows were cut. Kept a day.
- a Slack claim: ``slack#<signature>``, ``claim``; written only if absent or expired (the TTL deletes items
  within days, not at once), which is atomic across concurrent copies and Lambda containers.

Reads are strongly consistent: POST waits for the worker's outcome, and a follow-up may come seconds after
the turn it follows. Every failure is raised to the caller, which answers 503 (loglens.agent.api).
"""

from __future__ import annotations

import json
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from loglens.agent.conversations import HISTORY_TURNS, StoredAnswer, Turn, check_key

TURN_DAYS: Final = 2
ANSWER_DAYS: Final = 1
# Under DynamoDB's 400 KB item limit, with room for the key and the other attributes.
MAX_BODY_BYTES: Final = 350_000
_RUNNING, _OUTCOME = "running", "outcome"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def pack(body: dict[str, Any]) -> bytes:
    """`body` as compressed JSON that fits an item; rows are dropped from the end (and said so) if it must."""
    packed = zlib.compress(json.dumps(body, default=str).encode(), 6)
    rows = body.get("rows")
    if len(packed) <= MAX_BODY_BYTES or not isinstance(rows, list) or not rows:
        if len(packed) > MAX_BODY_BYTES:
            raise ValueError(f"the answer is {len(packed)} bytes compressed; an item holds {MAX_BODY_BYTES}")
        return packed
    kept = len(rows) // 2
    found = body.get("performance")
    performance: dict[str, Any] = found if isinstance(found, dict) else {}
    shorter = {**body, "rows": rows[:kept], "performance": {**performance, "row_limit_reached": True}}
    return pack(shorter)


def unpack(data: bytes) -> dict[str, Any]:
    value = json.loads(zlib.decompress(data))
    return value if isinstance(value, dict) else {}


class DynamoAskState:
    """Conversations, HTTP answers and Slack claims in one table; `client` is a boto3 DynamoDB client."""

    def __init__(self, table: str, client: Any, *, now: Any = None) -> None:
        self.table = table
        self.client = client
        self._now = now or (lambda: datetime.now(UTC))

    # Conversations

    def history(self, key: str, *, max_age: timedelta, limit: int = HISTORY_TURNS) -> list[Turn]:
        since = self._now() - max_age
        page = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :since AND :last",
            ExpressionAttributeValues={
                ":pk": {"S": f"conversation#{check_key(key)}"},
                ":since": {"S": f"turn#{_iso(since)}"},
                ":last": {"S": "turn#\uffff"},
            },
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        turns = []
        for item in reversed(page.get("Items", [])):
            preview = json.loads(item["preview"]["S"]) if "preview" in item else {}
            turns.append(
                Turn(
                    question=item["question"]["S"],
                    sql=item["sql"]["S"] if "sql" in item else None,
                    summary=item["summary"]["S"],
                    columns=list(preview.get("columns", [])),
                    preview=list(preview.get("rows", [])),
                    created_at=datetime.fromisoformat(item["created_at"]["S"]),
                    key_insight=item.get("key_insight", {}).get("S", ""),
                )
            )
        return turns

    def append(self, key: str, turn: Turn) -> None:
        created = turn.created_at.astimezone(UTC)
        item: dict[str, Any] = {
            "pk": {"S": f"conversation#{check_key(key)}"},
            # The random tail keeps two turns stored in the same microsecond apart.
            "sk": {"S": f"turn#{_iso(created)}#{uuid.uuid4().hex[:12]}"},
            "question": {"S": turn.question},
            "summary": {"S": turn.summary},
            "key_insight": {"S": turn.key_insight},
            "preview": {"S": json.dumps({"columns": turn.columns, "rows": turn.preview}, default=str)},
            "created_at": {"S": created.isoformat()},
            "expires_at": {"N": _epoch(created + timedelta(days=TURN_DAYS))},
        }
        if turn.sql is not None:
            item["sql"] = {"S": turn.sql}
        self.client.put_item(TableName=self.table, Item=item)

    # Answers of HTTP asks

    def start_answer(self, ask_id: str, requester: str, body: dict[str, Any]) -> None:
        self._put_answer(ask_id, requester, _RUNNING, "running", None, body)

    def finish_answer(self, ask_id: str, requester: str, *, done: bool, http_status: int, body: dict[str, Any]) -> None:
        self._put_answer(ask_id, requester, _OUTCOME, "done" if done else "failed", http_status, body)

    def stored_answer(self, ask_id: str, requester: str) -> StoredAnswer | None:
        page = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _answer_key(ask_id, requester)}},
            ConsistentRead=True,
        )
        items = {item["sk"]["S"]: item for item in page.get("Items", [])}
        item = items.get(_OUTCOME) or items.get(_RUNNING)
        if item is None:
            return None
        status = int(item["http_status"]["N"]) if "http_status" in item else None
        created = datetime.fromisoformat(item["created_at"]["S"])
        return StoredAnswer(item["state"]["S"], status, unpack(bytes(item["body"]["B"])), created)

    def _put_answer(
        self, ask_id: str, requester: str, sk: str, state: str, http_status: int | None, body: dict[str, Any]
    ) -> None:
        now = self._now()
        item: dict[str, Any] = {
            "pk": {"S": _answer_key(ask_id, requester)},
            "sk": {"S": sk},
            "state": {"S": state},
            "body": {"B": pack(body)},
            "created_at": {"S": now.isoformat()},
            "expires_at": {"N": _epoch(now + timedelta(days=ANSWER_DAYS))},
        }
        if http_status is not None:
            item["http_status"] = {"N": str(http_status)}
        try:
            # One outcome per ask (and one start): a second write is a bug or a retried worker, never an update.
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.client.exceptions.ConditionalCheckFailedException:
            raise ValueError(f"ask {ask_id} already has its {sk} record") from None

    # Slack replay claims

    def first_time(self, signature: str, expires_at: datetime) -> bool:
        if not signature or len(signature) > 512:
            raise ValueError("a Slack signature is 1..512 characters")
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"slack#{signature}"},
                    "sk": {"S": "claim"},
                    "expires_at": {"N": _epoch(expires_at)},
                },
                # TTL deletes within days, not at once: an expired claim left in the table is no claim.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": _epoch(self._now())}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _answer_key(ask_id: str, requester: str) -> str:
    return f"ask#{uuid.UUID(ask_id)}#{check_key(requester)}"
