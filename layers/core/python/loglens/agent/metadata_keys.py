"""What the keys of `metadata` mean: learned from the data, explained by a small dictionary of known names.

`metadata` is free-form, so one idea travels under several names: a release is `version` in one service and
`release` in another. The prompt lists each key with the services that use it, its JSON type and, when it
has only a few values, those values; keys the dictionary knows get their meaning, and keys that mean the
same thing are named together, so a question about "the release" reads the right key for each service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

# key -> (concept, meaning). Concepts group keys that mean the same thing across services.
KNOWN_KEYS: Final[Mapping[str, tuple[str, str]]] = {
    **{
        key: ("release", "the version (release) of the code that wrote the log")
        for key in ("version", "release", "app_version", "service_version", "build", "build_version")
    },
    "previous_version": ("previous release", "the version that ran before a deployment"),
    **{key: ("commit", "the source commit the running code was built from") for key in ("commit", "git_sha", "sha")},
    **{key: ("region", "the cloud region the service ran in") for key in ("region", "aws_region")},
    **{key: ("zone", "the availability zone") for key in ("az", "zone", "availability_zone")},
    **{
        key: ("host", "the machine, pod or container that wrote the log")
        for key in ("host", "hostname", "pod", "pod_name", "instance", "instance_id", "container_id", "node")
    },
    **{
        key: ("request", "one request's id: all logs of that request share it")
        for key in ("request_id", "correlation_id", "x_request_id")
    },
    **{
        key: ("tenant", "the customer account the work was done for")
        for key in ("tenant", "tenant_id", "org_id", "organization_id", "account_id", "customer_id")
    },
    "order_id": ("order", "the order the log is about"),
    **{key: ("locale", "the user's language and region setting") for key in ("locale", "lang", "language")},
    "os": ("os", "the operating system of the user's device"),
    **{key: ("experiment", "feature flags or experiments active") for key in ("feature_flag", "flags", "experiment")},
    **{key: ("deployment", "the deployment that produced this log") for key in ("deployment_id", "deploy_id")},
    "redactions": ("redactions", "added by loglens: how many values each redaction rule masked in this record"),
}
_MAX_EXAMPLES: Final = 8  # a key with more distinct values than this is an id or free text: no values listed
_MAX_SERVICES: Final = 6


@dataclass
class MetadataKey:
    """One key as seen in a sample of recent rows."""

    key: str
    count: int = 0
    services: dict[str, int] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)
    distinct: int = 0
    examples: list[str] = field(default_factory=list)


def summarise(rows: Iterable[tuple[str, str | None, str, int, int, list[str] | None]]) -> list[MetadataKey]:
    """Rows of (key, service, JSON type, count, distinct values, sample values): one entry per key, commonest first."""
    keys: dict[str, MetadataKey] = {}
    for key, service, kind, count, distinct, values in rows:
        entry = keys.setdefault(key, MetadataKey(key))
        entry.count += count
        entry.services[service or "(no service)"] = entry.services.get(service or "(no service)", 0) + count
        entry.types.add(kind)
        entry.distinct = max(entry.distinct, distinct)
        for value in values or ():
            if value not in entry.examples:
                entry.examples.append(value)
    for entry in keys.values():
        if len(entry.examples) > _MAX_EXAMPLES or entry.distinct > _MAX_EXAMPLES:
            entry.examples = []
        entry.examples.sort()
    return sorted(keys.values(), key=lambda e: (-e.count, e.key))


def prompt_lines(keys: list[MetadataKey], text: Callable[[str], str]) -> list[str]:
    """The metadata part of the facts prompt; `text` prepares a value for the model (redaction, length)."""
    if not keys:
        return []
    lines = [
        "- metadata keys in a sample of the last week (metadata->>'key' reads one as text). "
        "Per key: JSON type, the services that use it, its values when there are few, and its meaning when known:"
    ]
    for entry in keys:
        services = sorted(entry.services, key=lambda s: (-entry.services[s], s))
        shown = ", ".join(services[:_MAX_SERVICES])
        if len(services) > _MAX_SERVICES:
            shown += f" and {len(services) - _MAX_SERVICES} more"
        parts = [f"{'/'.join(sorted(entry.types))}; {shown}"]
        if entry.examples:
            parts.append("values: " + ", ".join(text(value) for value in entry.examples))
        known = KNOWN_KEYS.get(entry.key.lower())
        meaning = f": {known[0]} — {known[1]}" if known else ""
        lines.append(f"  - {entry.key} ({'; '.join(parts)}){meaning}")
    lines.extend(_same_meaning(keys))
    return lines


def _same_meaning(keys: list[MetadataKey]) -> list[str]:
    """Concepts found under more than one key: which key each service uses for it."""
    by_concept: dict[str, list[MetadataKey]] = {}
    for entry in keys:
        known = KNOWN_KEYS.get(entry.key.lower())
        if known:
            by_concept.setdefault(known[0], []).append(entry)
    lines = []
    for concept, entries in sorted(by_concept.items()):
        if len(entries) < 2:
            continue
        uses = "; ".join(f"metadata->>'{e.key}' in {', '.join(sorted(e.services))}" for e in entries)
        lines.append(f"  - The same meaning under different keys, {concept}: {uses}. Read each service's own key.")
    return lines
