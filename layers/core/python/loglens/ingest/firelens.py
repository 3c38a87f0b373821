"""FireLens (Fluent Bit) records from ECS, mapped onto loglens input records.

A FireLens record carries the container's line in `log`, plus `source` (stdout/stderr),
`container_id`, `container_name` and, with ECS metadata on, `ecs_cluster`, `ecs_task_arn`,
`ecs_task_definition` ("family:revision"). Long lines may arrive split (`partial_message`,
`partial_id`, `partial_ordinal`, `partial_last`); `join_partials` puts them back together.

The mapping rules:
- `log` holding a JSON object: its fields are the record's, read through the same alias table as
  the HTTP API (loglens.shapes: pino, winston, bunyan, structlog, loguru, Powertools, Python
  logging JSON, ECS, OpenTelemetry names). Without a level of its own, the level comes from the
  message text as for plain lines.
- `log` holding plain text: the message is the text; the level is the first level word found
  in the first 80 characters ("ERROR", "[warn]", "level=info", … — see _TEXT_LEVEL_WORDS); with none, a line on
  stderr is ERROR and a line on stdout is INFO.
- a whole Python or Java traceback (Fluent Bit's multiline filter joins its lines, see
  clients/fluent-bit): stack_trace is the text, the message its exception line, error_type the
  exception's class, and the level ERROR.
- service: the record's own (`service`, ECS `service.name`, pino/bunyan `name`, ...), else the
  task definition family, else the container name.
- the ECS fields are kept in metadata.ecs; the stream in metadata.stream.
- event_id: FireLens has none, so it is a UUIDv5 of the raw object key and line number: replaying
  the same object yields the same ids and nothing is stored twice.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, Final, TypeVar

from loglens.levels import LEVEL_ALIASES
from loglens.record import DEFAULT_SERVICE, place
from loglens.shapes import canonical, split_traceback

T = TypeVar("T")
FIRELENS_KEYS: Final = frozenset(
    {"container_id", "container_name", "ecs_cluster", "ecs_task_arn", "ecs_task_definition"}
)
_NAMESPACE: Final = uuid.UUID("c5a1f1d2-1e1f-5b0e-8a57-6c6f676c656e")
# Only unmistakable level words: "fine" or "alert" in a sentence should not set a level.
_TEXT_LEVEL_WORDS: Final = (
    "trace",
    "debug",
    "info",
    "warning",
    "warn",
    "error",
    "err",
    "fatal",
    "critical",
    "crit",
    "panic",
)
_LEVEL_WORD: Final = re.compile(r"(?<![A-Za-z])(" + "|".join(_TEXT_LEVEL_WORDS) + r")(?![A-Za-z])", re.IGNORECASE)


def is_firelens(data: dict[str, Any]) -> bool:
    return "log" in data and ("container_id" in data or "container_name" in data or "ecs_task_arn" in data)


def join_partials(lines: Iterable[tuple[int, T]]) -> Iterator[tuple[int, T | dict[str, Any]]]:
    """Reassemble split lines; a split record is emitted at the position of its first part.
    Items that are not dictionaries (rows already decoded) pass straight through."""
    pending: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, data in lines:
        if not isinstance(data, dict):
            yield number, data
            continue
        partial_id = data.get("partial_id")
        if not partial_id or str(data.get("partial_message", "")).lower() not in ("true", "1"):
            yield number, data
            continue
        parts = pending.setdefault(str(partial_id), [])
        parts.append((number, data))
        if str(data.get("partial_last", "")).lower() in ("true", "1"):
            yield _joined(pending.pop(str(partial_id)), complete=True)
    for parts in pending.values():  # the rest of a split line never came in this object
        yield _joined(parts, complete=False)


def _joined(parts: list[tuple[int, dict[str, Any]]], *, complete: bool) -> tuple[int, dict[str, Any]]:
    parts.sort(key=lambda p: _int(p[1].get("partial_ordinal")))
    first_number, first = parts[0]
    merged = {k: v for k, v in first.items() if not k.startswith("partial_")}
    merged["log"] = "".join(str(p[1].get("log", "")) for p in parts)
    if not complete:
        merged["_partial_incomplete"] = True
    return first_number, merged


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def to_raw_record(data: dict[str, Any], object_key: str, line_number: int) -> dict[str, Any]:
    text = data.get("log")
    text = text if isinstance(text, str) else json.dumps(text)
    stream = str(data.get("source") or "")
    parsed = _json_object(text)
    moved: dict[str, Any] = {}
    if parsed is not None:
        shaped = canonical(parsed)
        raw, moved = shaped.fields, shaped.moved
    else:
        raw = _from_text(text, stream)
    if raw.get("level") is None:
        raw["level"] = _infer_level(str(raw.get("message", "")), stream)
    if "timestamp" not in raw and data.get("timestamp") is not None:
        raw["timestamp"] = data["timestamp"]
    if not raw.get("service"):
        raw["service"] = _service(data)
    own = raw.get("metadata")
    metadata: dict[str, Any] = dict(own) if isinstance(own, dict) else {}
    for key, value in moved.items():
        place(metadata, key, value)
    # FireLens's own keys; a line that sent its own `ecs` or `stream` metadata keeps it beside them.
    own_values = {key: metadata.pop(key) for key in ("ecs", "stream") if key in metadata}
    metadata["ecs"] = {k: data[k] for k in sorted(FIRELENS_KEYS) if data.get(k) is not None}
    metadata["stream"] = stream or None
    for key, value in own_values.items():
        place(metadata, key, value)
    if data.get("_partial_incomplete"):
        metadata["partial_incomplete"] = True
    raw["metadata"] = metadata
    raw.setdefault("event_id", str(uuid.uuid5(_NAMESPACE, f"{object_key}\n{line_number}")))
    return raw


def _from_text(text: str, stream: str) -> dict[str, Any]:
    traceback = split_traceback(text)
    if traceback is not None:
        message, error_type = traceback
        return {"message": message, "level": "ERROR", "error_type": error_type, "stack_trace": text.rstrip("\n")}
    return {"message": text.rstrip("\n"), "level": _infer_level(text, stream)}


def _json_object(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    try:
        value = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _infer_level(text: str, stream: str) -> str:
    match = _LEVEL_WORD.search(text[:80])
    if match:
        return LEVEL_ALIASES[match.group(1).lower()].value
    return "ERROR" if stream == "stderr" else "INFO"


def _service(data: dict[str, Any]) -> str:
    definition = str(data.get("ecs_task_definition") or "")
    if definition:
        return definition.split(":", 1)[0]
    return str(data.get("container_name") or DEFAULT_SERVICE)
