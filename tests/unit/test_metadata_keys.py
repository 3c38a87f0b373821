"""What the prompt says about metadata keys: learned from sample rows, explained by the known-keys dictionary."""

from __future__ import annotations

from loglens.agent.metadata_keys import KNOWN_KEYS, prompt_lines, summarise

ROWS = [
    # (key, service, JSON type, count, distinct values, sample values)
    ("version", "checkout", "string", 900, 2, ["1.4.0", "1.4.1"]),
    ("version", "payments", "string", 400, 1, ["7.0.0"]),
    ("release", "web", "string", 700, 2, ["web 5.4.0", "web 5.3.1"]),
    ("request_id", "checkout", "string", 900, 900, [f"r-{i}" for i in range(9)]),
    ("shard", "payments", "number", 50, 3, ["1", "2", "3"]),
    ("email", "web", "string", 10, 2, ["a@example.com", "b@example.com"]),
]


def test_keys_are_summed_over_services_commonest_first() -> None:
    keys = summarise(ROWS)
    assert [k.key for k in keys] == ["version", "request_id", "release", "shard", "email"]
    version = keys[0]
    assert version.count == 1300 and version.services == {"checkout": 900, "payments": 400}
    assert version.examples == ["1.4.0", "1.4.1", "7.0.0"]


def test_ids_and_free_text_list_no_values() -> None:
    request_id = next(k for k in summarise(ROWS) if k.key == "request_id")
    assert request_id.examples == []


def test_known_meanings_and_one_idea_under_two_names() -> None:
    lines = prompt_lines(summarise(ROWS), text=lambda value: value)
    version = next(line for line in lines if line.startswith("  - version ("))
    assert version.endswith(f": release — {KNOWN_KEYS['version'][1]}")
    assert "checkout, payments" in version
    shard = next(line for line in lines if line.startswith("  - shard ("))
    assert shard == "  - shard (number; payments; values: 1, 2, 3)"  # no meaning invented for an unknown key
    assert lines[-1] == (
        "  - The same meaning under different keys, release: metadata->>'version' in checkout, payments; "
        "metadata->>'release' in web. Read each service's own key."
    )


def test_values_pass_through_the_models_text_filter() -> None:
    lines = prompt_lines(summarise(ROWS), text=lambda value: "[REDACTED:email]" if "@" in value else value)
    email = next(line for line in lines if line.startswith("  - email ("))
    assert "example.com" not in email and "[REDACTED:email]" in email


def test_no_keys_no_lines() -> None:
    assert prompt_lines([], text=str) == []
