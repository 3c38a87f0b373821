"""Redaction against a held-out-style corpus: every leak found, every look-alike left alone.

The corpus (tests/unit/redaction_corpus.py) is data; this test places each entry in a record, redacts it
with default settings (and the optional phone and IP rules on where the corpus says so), and prints
found/missed and changed/kept counts per category, so a change to a rule shows what it gained or lost.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest

from loglens.redact import Action, RedactionSettings, Redactor
from tests.unit.redaction_corpus import LEAKS, LOOK_ALIKES, OPT_IN_LEAKS, Leak

ALL_ON = RedactionSettings(rules={"ipv4": Action.MASK, "ipv6": Action.MASK, "phone": Action.MASK})


def redacted(redactor: Redactor, field: str, given: Any) -> tuple[dict[str, Any], Counter[str]]:
    record = {"service": "checkout", field: copy.deepcopy(given)}
    counts = redactor.redact_record(record)
    return record, counts


def texts(value: Any) -> list[str]:
    """Every key and scalar in a record, as text."""
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (*texts(key), *texts(item))]
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    return [value if isinstance(value, str) else json.dumps(value)]


def survivors(redactor: Redactor, entry: Leak) -> list[str]:
    record, _ = redacted(redactor, entry.field, entry.given)
    stored = texts(record)
    return [secret for secret in entry.secrets if any(secret in text for text in stored)]


def summary(title: str, rows: dict[str, list[bool]], ok: str, bad: str) -> str:
    lines = [f"{title}: {sum(sum(r) for r in rows.values())}/{sum(len(r) for r in rows.values())} {ok}"]
    for category, results in sorted(rows.items()):
        lines.append(f"  {category:<16} {sum(results):>3} {ok}, {len(results) - sum(results):>2} {bad}")
    return "\n".join(lines)


def test_corpus_is_large_enough() -> None:
    assert len(LEAKS) >= 150
    assert len(LOOK_ALIKES) >= 60
    assert all(entry.secrets for entry in LEAKS + OPT_IN_LEAKS)


def test_every_leak_is_found_at_default_settings() -> None:
    # Given the corpus's leaks and a redactor with default settings
    redactor = Redactor(RedactionSettings())
    found: dict[str, list[bool]] = {}
    missed: list[str] = []

    # When each is redacted in its own record
    for entry in LEAKS:
        left = survivors(redactor, entry)
        found.setdefault(entry.category, []).append(not left)
        if left:
            missed.append(f"{entry.category}: {entry.given!r} kept {left}")

    # Then no secret survives anywhere in the record
    print("\n" + summary("leaks found at default settings", found, "found", "missed"))
    assert not missed, "\n".join(missed)


def test_optional_rules_find_phones_and_addresses() -> None:
    redactor = Redactor(ALL_ON)
    missed = [f"{entry.given!r} kept {left}" for entry in OPT_IN_LEAKS if (left := survivors(redactor, entry))]
    assert not missed, "\n".join(missed)


def test_optional_rules_stay_off_by_default() -> None:
    redactor = Redactor(RedactionSettings())
    kept = [entry for entry in OPT_IN_LEAKS if survivors(redactor, entry)]
    assert len(kept) == len(OPT_IN_LEAKS)


@pytest.mark.parametrize("settings", [RedactionSettings(), ALL_ON], ids=["default", "phone-and-ip-on"])
def test_no_look_alike_is_changed(settings: RedactionSettings) -> None:
    # Given the corpus's look-alikes
    redactor = Redactor(settings)
    kept: dict[str, list[bool]] = {}
    changed: list[str] = []

    # When each is redacted in its own record
    for entry in LOOK_ALIKES:
        record, counts = redacted(redactor, entry.field, entry.given)
        same = record[entry.field] == entry.given and not counts
        kept.setdefault(entry.category, []).append(same)
        if not same:
            changed.append(f"{entry.category}: {entry.given!r} -> {record[entry.field]!r} {dict(counts)}")

    # Then every one comes through unchanged and uncounted
    print("\n" + summary("look-alikes kept", kept, "kept", "changed"))
    assert not changed, "\n".join(changed)


def test_corpus_entries_are_redacted_once() -> None:
    # Redacting the redacted corpus again changes nothing: placeholders are never taken for secrets.
    redactor = Redactor(ALL_ON)
    for entry in [*LEAKS, *OPT_IN_LEAKS]:
        record, _ = redacted(redactor, entry.field, entry.given)
        again = copy.deepcopy(record)
        assert not redactor.redact_record(again), entry
        assert again == record
