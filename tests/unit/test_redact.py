"""Redaction of PII and secrets in log records: rules, actions, look-alikes, settings, linear time."""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from loglens.redact import (
    BUILTIN_RULES,
    DEFAULT_ACTIONS,
    DEFAULT_SENSITIVE_KEYS,
    Action,
    RedactionSettings,
    Redactor,
)
from tests.unit.redaction_corpus import (
    ANTHROPIC,
    DISCORD_HOOK,
    GITHUB,
    GITHUB_FINE,
    GOOGLE_KEY,
    K8S_KEY,
    NPM,
    RSA_KEY,
    SLACK_BOT,
    SLACK_HOOK,
    STRIPE_LIVE,
    STRIPE_WEBHOOK,
    TELEGRAM,
)

KEY = b"unit-test-hash-key-0123456789abcdef"
OTHER_KEY = b"another-hash-key-fedcba9876543210"

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
JWE = (
    "eyJhbGciOiJSU0EtT0FFUCJ9"
    ".OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe"
    ".48V1_ALb6US04U3b"
    ".5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji"
    ".XFBoMYUZodetZdvTiFvSkQ"
)
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# Fields the redactor must never touch, even when they look like PII.
UNTOUCHED: dict[str, Any] = {
    "event_id": "01HZX3K9Q8V7W6T5S4R3P2N1M0",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "created_at": "2024-05-01T12:30:45.123Z",
    "level": "ERROR",
    "service": "billing@example.com",
    "environment": "10.0.0.1",
}


def m(rule: str) -> str:
    return f"[REDACTED:{rule}]"


def h(rule: str, value: str, key: bytes = KEY) -> str:
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:10]
    return f"[HASH:{rule}:{digest}]"


def case(
    id_: str,
    given: Any,
    expected: Any,
    counts: dict[str, int] | None = None,
    *,
    field: str = "message",
    rules: dict[str, str] | None = None,
    custom: tuple[tuple[str, str], ...] = (),
    keys: tuple[str, ...] = DEFAULT_SENSITIVE_KEYS,
) -> Any:
    return pytest.param(field, given, expected, counts or {}, rules or {}, custom, keys, id=id_)


ALL_ON = {"ipv4": "mask", "ipv6": "mask", "phone": "mask"}
PYTHON_TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/app/auth.py", line 42, in login\n'
    "    verify(user, password)\n"
    "AuthError: bad credentials for ann@example.com (password=Tr0ub4dor!3)"
)
JAVA_TRACE = (
    "java.lang.IllegalStateException: charge failed for card 5555 5555 5555 4444\n"
    "\tat com.example.pay.Gateway.charge(Gateway.java:118)\n"
    "\tat com.example.pay.Client.call(Client.java:52) url=https://api.example.com/v1?api_key=sk_live_51H&x=1"
)

CASES = [
    # email
    case("email-message", "login failed for bob.smith@example.com", f"login failed for {m('email')}", {"email": 1}),
    case(
        "email-plus-tag-subdomain",
        "notify jane+alerts@mail.eu.example.co.uk now",
        f"notify {m('email')} now",
        {"email": 1},
    ),
    case("email-sentence-end", "Contact Bob@Example.COM.", f"Contact {m('email')}.", {"email": 1}),
    case("email-two", "from a@x.io to b_2@y.io", f"from {m('email')} to {m('email')}", {"email": 2}),
    case("email-unicode", "user münchen@bücher.de signed up", f"user {m('email')} signed up", {"email": 1}),
    case("email-user-id-field", "carol@example.org", m("email"), {"email": 1}, field="user_id"),
    case(
        "email-in-page-url",
        "https://shop.example.com/account?email=dave@example.com&tab=2",
        f"https://shop.example.com/account?email={m('email')}&tab=2",
        {"email": 1},
        field="page_url",
    ),
    case(
        "email-in-endpoint-path",
        "/users/eve@example.com/orders",
        f"/users/{m('email')}/orders",
        {"email": 1},
        field="endpoint",
    ),
    case(
        "email-hash",
        "welcome bob@example.com",
        f"welcome {h('email', 'bob@example.com')}",
        {"email": 1},
        rules={"email": "hash"},
    ),
    case(
        "email-hash-ignores-case",
        "welcome Bob@Example.com",
        f"welcome {h('email', 'bob@example.com')}",
        {"email": 1},
        rules={"email": "hash"},
    ),
    case("email-keep", "welcome bob@example.com", "welcome bob@example.com", rules={"email": "keep"}),
    # card
    case("card-contiguous", "paid with 4111111111111111 ok", f"paid with {m('card')} ok", {"card": 1}),
    case("card-spaces", "card 4111 1111 1111 1111 declined", f"card {m('card')} declined", {"card": 1}),
    case("card-dashes", "pan=5555-5555-5555-4444;", f"pan={m('card')};", {"card": 1}),
    case("card-amex-4-6-5", "amex 3782 822463 10005", f"amex {m('card')}", {"card": 1}),
    case("card-13-digits", "old visa 4222222222222", f"old visa {m('card')}", {"card": 1}),
    case("card-19-digits", "card 6031234567890123453 used", f"card {m('card')} used", {"card": 1}),
    case("card-in-json-text", '{"pan":"6011111111111117"}', f'{{"pan":"{m("card")}"}}', {"card": 1}),
    case(
        "card-hash-ignores-separators",
        "4111 1111 1111 1111 then 4111111111111111",
        f"{h('card', '4111111111111111')} then {h('card', '4111111111111111')}",
        {"card": 2},
        rules={"card": "hash"},
    ),
    case(
        "card-number-in-metadata",
        {"payment": {"pan": 4111111111111111, "amount": 1999}},
        {"payment": {"pan": m("card"), "amount": 1999}},
        {"card": 1},
        field="metadata",
    ),
    # jwt
    case("jwt-message", f"session {JWT} expired", f"session {m('jwt')} expired", {"jwt": 1}),
    case("jwt-wins-over-secret-pair", f"id_token={JWT}&state=x", f"id_token={m('jwt')}&state=x", {"jwt": 1}),
    case("jwe-five-segments", f"enc {JWE}.", f"enc {m('jwt')}.", {"jwt": 1}),
    case("jwt-hash", f"t={JWT}", f"t={h('jwt', JWT)}", {"jwt": 1}, rules={"jwt": "hash"}),
    # bearer / Authorization
    case(
        "bearer-header",
        "Authorization: Bearer abc.def-123",
        f"Authorization: Bearer {m('bearer')}",
        {"bearer": 1},
    ),
    case(
        "bearer-basic-header",
        "authorization=Basic dXNlcjpwYXNz",
        f"authorization=Basic {m('bearer')}",
        {"bearer": 1},
    ),
    case(
        "bearer-header-in-repr",
        "headers={'Authorization': 'Bearer tok_9f8e7d', 'Accept': '*/*'}",
        f"headers={{'Authorization': 'Bearer {m('bearer')}', 'Accept': '*/*'}}",
        {"bearer": 1},
    ),
    case(
        "bearer-in-prose",
        "retrying with bearer mF_9.B5f-4.1JqM now",
        f"retrying with bearer {m('bearer')} now",
        {"bearer": 1},
    ),
    case(
        "bearer-jwt-counts-as-jwt",
        f"Authorization: Bearer {JWT}",
        f"Authorization: Bearer {m('jwt')}",
        {"jwt": 1},
    ),
    case(
        "bearer-jwt-kept-still-bearer",
        f"Authorization: Bearer {JWT}",
        f"Authorization: Bearer {m('bearer')}",
        {"bearer": 1},
        rules={"jwt": "keep"},
    ),
    case(
        "bearer-lookalike-prose",
        "Bearer authentication required; bearer token missing; Authorization header absent",
        "Bearer authentication required; bearer token missing; Authorization header absent",
    ),
    # aws
    case("aws-key-id", "using AKIAIOSFODNN7EXAMPLE today", f"using {m('aws_access_key')} today", {"aws_access_key": 1}),
    case("aws-session-key-id", "sts ASIAY34FZKBOKMUTVV7A", f"sts {m('aws_access_key')}", {"aws_access_key": 1}),
    case(
        "aws-secret-env",
        f"AWS_SECRET_ACCESS_KEY={AWS_SECRET} set",
        f"AWS_SECRET_ACCESS_KEY={m('aws_access_key')} set",
        {"aws_access_key": 1},
    ),
    case(
        "aws-secret-json",
        f'{{"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{AWS_SECRET}"}}',
        f'{{"AccessKeyId": "{m("aws_access_key")}", "SecretAccessKey": "{m("aws_access_key")}"}}',
        {"aws_access_key": 2},
    ),
    case(
        "aws-lookalikes",
        "XAKIAIOSFODNN7EXAMPLE akiaiosfodnn7example AKIA1234 ASIAN markets",
        "XAKIAIOSFODNN7EXAMPLE akiaiosfodnn7example AKIA1234 ASIAN markets",
    ),
    # secret_pair
    case("pair-equals", "login password=hunter2 ok", f"login password={m('secret_pair')} ok", {"secret_pair": 1}),
    case("pair-colon", "password: hunter2", f"password: {m('secret_pair')}", {"secret_pair": 1}),
    case(
        "pair-json",
        '{"api_key": "sk_live_abc", "n": 1}',
        f'{{"api_key": "{m("secret_pair")}", "n": 1}}',
        {"secret_pair": 1},
    ),
    case(
        "pair-query-string",
        "/cb?access_token=abc123&page=2",
        f"/cb?access_token={m('secret_pair')}&page=2",
        {"secret_pair": 1},
        field="page_url",
    ),
    case(
        "pair-form-body",
        "client_id=app&client_secret=s3cr3t&grant_type=x",
        f"client_id=app&client_secret={m('secret_pair')}&grant_type=x",
        {"secret_pair": 1},
    ),
    case("pair-python-repr", "{'passwd': 'x y'}", f"{{'passwd': '{m('secret_pair')}'}}", {"secret_pair": 1}),
    case("pair-pwd", "pwd=letmein", f"pwd={m('secret_pair')}", {"secret_pair": 1}),
    case(
        "pair-camel-case",
        "accessToken=abc SessionToken: def",
        f"accessToken={m('secret_pair')} SessionToken: {m('secret_pair')}",
        {"secret_pair": 2},
    ),
    case("pair-api-key-header", "X-Api-Key: abc123", f"X-Api-Key: {m('secret_pair')}", {"secret_pair": 1}),
    case("pair-secret-key", "SECRET_KEY = 'django-insecure'", f"SECRET_KEY = '{m('secret_pair')}'", {"secret_pair": 1}),
    case(
        "pair-quoted-with-spaces",
        'password="correct horse battery" next',
        f'password="{m("secret_pair")}" next',
        {"secret_pair": 1},
    ),
    case(
        "pair-java-tostring",
        "User(name=bob, password=hunter2) User{token=pa)ss}",
        f"User(name=bob, password={m('secret_pair')}) User{{token={m('secret_pair')}}}",
        {"secret_pair": 2},
    ),
    case(
        "pair-json-in-json",
        '{\\"password\\":\\"hunter2\\",\\"user\\":\\"bob\\"}',
        f'{{\\"password\\":\\"{m("secret_pair")}\\",\\"user\\":\\"bob\\"}}',
        {"secret_pair": 1},
    ),
    case("pair-ruby-hash", '{"password"=>"hunter2"}', f'{{"password"=>"{m("secret_pair")}"}}', {"secret_pair": 1}),
    case("pair-truncated-json", '{"password": "hunter', f'{{"password": "{m("secret_pair")}', {"secret_pair": 1}),
    case(
        "pair-url-credentials",
        "connect postgres://app:hunter2@db:5432/logs",
        f"connect postgres://app:{m('secret_pair')}@db:5432/logs",
        {"secret_pair": 1},
    ),
    case(
        "pair-hash",
        "password=hunter2",
        f"password={h('secret_pair', 'hunter2')}",
        {"secret_pair": 1},
        rules={"secret_pair": "hash"},
    ),
    case("pair-empty-values", 'password=&user=bob "token": ""', 'password=&user=bob "token": ""'),
    case(
        "pair-unicode-fallback",
        "İstanbul password=hunter2",
        f"İstanbul password={m('secret_pair')}",
        {"secret_pair": 1},
    ),
    # stack traces
    case(
        "stack-python",
        PYTHON_TRACE,
        PYTHON_TRACE.replace("ann@example.com", m("email")).replace("Tr0ub4dor!3", m("secret_pair")),
        {"email": 1, "secret_pair": 1},
        field="stack_trace",
    ),
    case(
        "stack-java",
        JAVA_TRACE,
        JAVA_TRACE.replace("5555 5555 5555 4444", m("card")).replace("sk_live_51H", m("secret_pair")),
        {"card": 1, "secret_pair": 1},
        field="stack_trace",
    ),
    case(
        "stack-header-dump",
        f"RequestError\n  headers: Authorization: Bearer {JWT}\n  cookie jar empty",
        f"RequestError\n  headers: Authorization: Bearer {m('jwt')}\n  cookie jar empty",
        {"jwt": 1},
        field="stack_trace",
    ),
    # sensitive keys in metadata
    case(
        "key-top-level",
        {"password": "hunter2", "user": "bob"},
        {"password": m("sensitive_key"), "user": "bob"},
        {"sensitive_key": 1},
        field="metadata",
    ),
    case(
        "key-dict-in-list-in-dict",
        {"requests": [{"headers": {"Authorization": "Bearer x", "Accept": "json"}}, {"status": 200}]},
        {"requests": [{"headers": {"Authorization": m("sensitive_key"), "Accept": "json"}}, {"status": 200}]},
        {"sensitive_key": 1},
        field="metadata",
    ),
    case(
        "key-nested-dict-replaced-whole",
        {"db": {"credentials": {"user": "bob", "password": "x"}, "host": "db1"}},
        {"db": {"credentials": m("sensitive_key"), "host": "db1"}},
        {"sensitive_key": 1},
        field="metadata",
    ),
    case(
        "key-list-replaced-whole",
        {"cookies": ["a=1", "b=2"]},
        {"cookies": m("sensitive_key")},
        {"sensitive_key": 1},
        field="metadata",
    ),
    case(
        "key-normalised-names",
        {"X-API-KEY": "a", "Client-Secret": "b", "SESSION_TOKEN": "c", "set-cookie": "d", "PrivateKey": "e"},
        {k: m("sensitive_key") for k in ("X-API-KEY", "Client-Secret", "SESSION_TOKEN", "set-cookie", "PrivateKey")},
        {"sensitive_key": 5},
        field="metadata",
    ),
    case(
        "key-number-value",
        {"pin": 1, "password": 123456},
        {"pin": 1, "password": m("sensitive_key")},
        {"sensitive_key": 1},
        field="metadata",
    ),
    case(
        "key-nothing-to-hide",
        {"password": None, "auth_enabled": True, "token": "", "secret": {}},
        {"password": None, "auth_enabled": True, "token": "", "secret": {}},
        field="metadata",
    ),
    case(
        "key-otel-attribute-pairs",
        [{"key": "http.request.header.authorization", "value": "Bearer x"}, {"key": "http.route", "value": "/a"}],
        [
            {"key": "http.request.header.authorization", "value": m("sensitive_key")},
            {"key": "http.route", "value": "/a"},
        ],
        {"sensitive_key": 1},
        field="metadata",
    ),
    case(
        "key-hash-string",
        {"api_key": "abc"},
        {"api_key": h("sensitive_key", "abc")},
        {"sensitive_key": 1},
        field="metadata",
        rules={"sensitive_key": "hash"},
    ),
    case(
        "key-hash-dict-canonical",
        {"auth": {"b": 2, "a": 1}},
        {"auth": h("sensitive_key", '{"a": 1, "b": 2}')},
        {"sensitive_key": 1},
        field="metadata",
        rules={"sensitive_key": "hash"},
    ),
    case(
        "key-keep-still-scans-text",
        {"password": "hunter2", "token": "mail bob@example.com"},
        {"password": "hunter2", "token": f"mail {m('email')}"},
        {"email": 1},
        field="metadata",
        rules={"sensitive_key": "keep"},
    ),
    case(
        "key-custom-list",
        {"ssn": "123-45-6789", "password": "x"},
        {"ssn": m("sensitive_key"), "password": "x"},
        {"sensitive_key": 1},
        field="metadata",
        keys=("ssn",),
    ),
    case(
        "metadata-text-rules-at-depth",
        {"a": [{"b": {"c": ["mail bob@example.com", 3, None]}}], "note": "token=abc"},
        {"a": [{"b": {"c": [f"mail {m('email')}", 3, None]}}], "note": f"token={m('secret_pair')}"},
        {"email": 1, "secret_pair": 1},
        field="metadata",
    ),
    case(
        "metadata-key-redacted",
        {"bob@example.com": 3, "plain": 1},
        {m("email"): 3, "plain": 1},
        {"email": 1},
        field="metadata",
    ),
    case(
        "metadata-keys-collide",
        {"a@x.io": 1, "b@y.io": 2},
        {m("email"): 1, m("email") + "#2": 2},
        {"email": 2},
        field="metadata",
    ),
    case("metadata-as-text", "password=x", f"password={m('secret_pair')}", {"secret_pair": 1}, field="metadata"),
    # optional rules: ipv4, ipv6, phone
    case("ipv4-kept-by-default", "client 10.0.0.1 connected", "client 10.0.0.1 connected"),
    case(
        "ipv4-mask",
        "client 10.0.0.1:8080 via 192.168.1.254.",
        f"client {m('ipv4')}:8080 via {m('ipv4')}.",
        {"ipv4": 2},
        rules=ALL_ON,
    ),
    case("ipv4-hash", "client 10.0.0.1", f"client {h('ipv4', '10.0.0.1')}", {"ipv4": 1}, rules={"ipv4": "hash"}),
    case("ipv4-four-part-version-is-address", "release 1.2.3.4", f"release {m('ipv4')}", {"ipv4": 1}, rules=ALL_ON),
    case(
        "ipv4-lookalikes",
        "v1.2.3.4 1.2.3 256.1.1.1 1.2.3.4.5 0.93",
        "v1.2.3.4 1.2.3 256.1.1.1 1.2.3.4.5 0.93",
        rules=ALL_ON,
    ),
    case("ipv6-kept-by-default", "peer 2001:db8::1", "peer 2001:db8::1"),
    case(
        "ipv6-mask",
        "peer 2001:db8::1 lo ::1 link fe80::1%eth0 mapped ::ffff:192.0.2.1"
        " full 2001:0db8:0000:0000:0000:ff00:0042:8329",
        f"peer {m('ipv6')} lo {m('ipv6')} link {m('ipv6')}%eth0 mapped {m('ipv6')} full {m('ipv6')}",
        {"ipv6": 5},
        rules=ALL_ON,
    ),
    case(
        "ipv6-lookalikes",
        "at 12:30:45 mac 00:1a:2b:3c:4d:5e std::vector Foo::Bar 2024-05-01T12:30:45.123+09:00",
        "at 12:30:45 mac 00:1a:2b:3c:4d:5e std::vector Foo::Bar 2024-05-01T12:30:45.123+09:00",
        rules=ALL_ON,
    ),
    case("phone-kept-by-default", "call +1 (415) 555-0132", "call +1 (415) 555-0132"),
    case(
        "phone-mask",
        "call +1 (415) 555-0132 or +44 20 7946 0958 or 415-555-0132",
        f"call {m('phone')} or {m('phone')} or {m('phone')}",
        {"phone": 3},
        rules=ALL_ON,
    ),
    case("phone-korean-mobile", "연락처 010-1234-5678", f"연락처 {m('phone')}", {"phone": 1}, rules=ALL_ON),
    case(
        "phone-lookalikes",
        "on 2024-05-01 took 1500 ms, v1.2.3, order 123-45, id 1700000000",
        "on 2024-05-01 took 1500 ms, v1.2.3, order 123-45, id 1700000000",
        rules=ALL_ON,
    ),
    # custom rules
    case(
        "custom-mask",
        "assigned to EMP-004211",
        f"assigned to {m('employee_id')}",
        {"employee_id": 1},
        custom=(("employee_id", r"\bEMP-[0-9]{6}\b"),),
    ),
    case(
        "custom-value-group",
        "ssn=123-45-6789 filed",
        f"ssn={m('ssn')} filed",
        {"ssn": 1},
        custom=(("ssn", r"ssn=(?P<value>[0-9]{3}-[0-9]{2}-[0-9]{4})"),),
    ),
    case(
        "custom-hash",
        "EMP-004211 and EMP-004211",
        f"{h('employee_id', 'EMP-004211')} and {h('employee_id', 'EMP-004211')}",
        {"employee_id": 2},
        rules={"employee_id": "hash"},
        custom=(("employee_id", r"EMP-[0-9]{6}"),),
    ),
    case(
        "custom-keep",
        "assigned to EMP-004211",
        "assigned to EMP-004211",
        rules={"employee_id": "keep"},
        custom=(("employee_id", r"EMP-[0-9]{6}"),),
    ),
    case(
        "custom-in-metadata",
        {"tickets": [{"owner": "EMP-000001"}]},
        {"tickets": [{"owner": m("employee_id")}]},
        {"employee_id": 1},
        field="metadata",
        custom=(("employee_id", r"EMP-[0-9]{6}"),),
    ),
    # private keys, wherever they are
    case(
        "private-key-pem-in-message",
        f"loaded\n{RSA_KEY}\ndone",
        f"loaded\n{m('private_key')}\ndone",
        {"private_key": 1},
    ),
    case(
        "private-key-pem-under-any-key",
        {"tls": {"pem": RSA_KEY, "cert_id": "c-1"}},
        {"tls": {"pem": m("private_key"), "cert_id": "c-1"}},
        {"private_key": 1},
        field="metadata",
    ),
    case(
        "private-key-truncated-runs-to-end",
        "key -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5",
        f"key {m('private_key')}",
        {"private_key": 1},
    ),
    case("private-key-base64-pem", f"data {K8S_KEY}", f"data {m('private_key')}", {"private_key": 1}),
    case(
        "private-key-lookalike-public-blocks",
        "-----BEGIN PUBLIC KEY-----\nMIIBIj\n-----END PUBLIC KEY----- LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUI=",
        "-----BEGIN PUBLIC KEY-----\nMIIBIj\n-----END PUBLIC KEY----- LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUI=",
    ),
    # vendor tokens
    case("stripe-secret-key", f"key {STRIPE_LIVE} set", f"key {m('stripe_key')} set", {"stripe_key": 1}),
    case("stripe-webhook-secret", f"whsec={STRIPE_WEBHOOK}", f"whsec={m('stripe_key')}", {"stripe_key": 1}),
    case(
        "stripe-lookalike-identifiers",
        "sk_test_helpers sk_live_connectionpool pk_test_fixtures_module",
        "sk_test_helpers sk_live_connectionpool pk_test_fixtures_module",
    ),
    case("slack-bot-token", f"token={SLACK_BOT}", f"token={m('slack_token')}", {"slack_token": 1}),
    case(
        "slack-webhook-keeps-host",
        f"POST https://hooks.slack.com/services/{SLACK_HOOK} ok",
        f"POST https://hooks.slack.com/services/{m('webhook_url')} ok",
        {"webhook_url": 1},
    ),
    case(
        "discord-webhook-keeps-host",
        f'"https://discord.com/api/webhooks/{DISCORD_HOOK}"',
        f'"https://discord.com/api/webhooks/{m("webhook_url")}"',
        {"webhook_url": 1},
    ),
    case(
        "github-tokens",
        f"{GITHUB['ghp_']} {GITHUB['ghs_']} {GITHUB_FINE}",
        f"{m('github_token')} {m('github_token')} {m('github_token')}",
        {"github_token": 3},
    ),
    case(
        "api-tokens",
        f"{GOOGLE_KEY} {NPM} {ANTHROPIC} bot{TELEGRAM}",
        f"{m('api_token')} {m('api_token')} {m('api_token')} bot{m('api_token')}",
        {"api_token": 4},
    ),
    case(
        "token-lookalikes",
        "ghp_short npm_install_hook gh_pages sk-learn task-runner hf_hub_download xoxo-hugs",
        "ghp_short npm_install_hook gh_pages sk-learn task-runner hf_hub_download xoxo-hugs",
    ),
    # IBANs
    case(
        "iban-grouped-and-contiguous",
        "DE89 3704 0044 0532 0130 00 or GB82WEST12345698765432.",
        f"{m('iban')} or {m('iban')}.",
        {"iban": 2},
    ),
    case(
        "iban-hash-ignores-grouping",
        "NL91 ABNA 0417 1643 00 = NL91ABNA0417164300",
        f"{h('iban', 'NL91ABNA0417164300')} = {h('iban', 'NL91ABNA0417164300')}",
        {"iban": 2},
        rules={"iban": "hash"},
    ),
    case(
        "iban-lookalikes",
        "DE89 3704 0044 0532 0130 02 (bad checksum) XX89370400440532013000 DE8937040044 AB12CDEFGHIJKLMNOP",
        "DE89 3704 0044 0532 0130 02 (bad checksum) XX89370400440532013000 DE8937040044 AB12CDEFGHIJKLMNOP",
    ),
    # US social security numbers
    case("ssn", "SSN 123-45-6789 ok", f"SSN {m('us_ssn')} ok", {"us_ssn": 1}),
    case("ssn-named-without-hyphens", "ssn: 536221234", f"ssn: {m('us_ssn')}", {"us_ssn": 1}),
    case(
        "ssn-lookalikes-never-issued",
        "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000 2024-05-01 v123-45-6789",
        "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000 2024-05-01 v123-45-6789",
    ),
    # Korean resident registration numbers
    case("rrn-check-digit", "주민등록번호 900101-1234568", f"주민등록번호 {m('kr_rrn')}", {"kr_rrn": 1}),
    case("rrn-without-hyphen-named", "RRN 9001011234568", f"RRN {m('kr_rrn')}", {"kr_rrn": 1}),
    case("rrn-since-2020-named", "주민번호: 210315-3123456", f"주민번호: {m('kr_rrn')}", {"kr_rrn": 1}),
    case(
        "rrn-lookalikes",
        "900101-1234567 (bad check) 901301-1234568 (month 13) 261207-3000042 (unnamed, no check digit)"
        " 9001011234568 (no hyphen, unnamed) 990229-1234567 (no 29 Feb 1999)",
        "900101-1234567 (bad check) 901301-1234568 (month 13) 261207-3000042 (unnamed, no check digit)"
        " 9001011234568 (no hyphen, unnamed) 990229-1234567 (no 29 Feb 1999)",
    ),
    # cards: groupings, identifiers and context
    case("card-dots", "card 4111.1111.1111.1111.", f"card {m('card')}.", {"card": 1}),
    case("card-diners-short-last-group", "diners 3622 7206 2716 67", f"diners {m('card')}", {"card": 1}),
    case(
        "card-in-identifier-is-an-id",
        "order-4242424242424242 ord_4242424242424242 #4242424242424242 order_id=4242424242424242",
        "order-4242424242424242 ord_4242424242424242 #4242424242424242 order_id=4242424242424242",
    ),
    case(
        "card-in-identifier-with-card-word",
        "card-4242424242424242 pan:4242424242424242",
        f"card-{m('card')} pan:{m('card')}",
        {"card": 2},
    ),
    case("card-grouped-is-a-card-anywhere", "order-4242 4242 4242 4242", f"order-{m('card')}", {"card": 1}),
    case(
        "card-numbers-under-id-or-quantity-keys",
        {"order_id": 4242424242424242, "ref": "4242424242424242", "bytes": 4242424242424242, "n": 4242424242424242},
        {"order_id": 4242424242424242, "ref": "4242424242424242", "bytes": 4242424242424242, "n": m("card")},
        {"card": 1},
        field="metadata",
    ),
    # e-mail, URL-encoded
    case(
        "email-url-encoded-hash-matches-plain",
        "?e=Jane%40Example.com vs jane@example.com",
        f"?e={h('email', 'jane@example.com')} vs {h('email', 'jane@example.com')}",
        {"email": 2},
        rules={"email": "hash"},
    ),
    case("email-scp-target-is-not-a-mailbox", "git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    # cookies, command lines, XML, env-style names
    case(
        "cookie-header-to-end-of-line",
        "Cookie: sid=abc; csrftoken=xyz\nHost: x",
        f"Cookie: {m('secret_pair')}\nHost: x",
        {"secret_pair": 1},
    ),
    case(
        "argv-secret-flags",
        "app --password hunter2 --api-key 'k y' --token-file /run/t --password-stdin",
        f"app --password {m('secret_pair')} --api-key '{m('secret_pair')}' --token-file /run/t --password-stdin",
        {"secret_pair": 2},
    ),
    case(
        "argv-tools-short-flags",
        "sshpass -phunter2 ssh h; mysql -h db -P3306 -pmysqlpw; redis-cli -a r3d; curl -u bob:cpw https://x",
        f"sshpass -p{m('secret_pair')} ssh h; mysql -h db -P3306 -p{m('secret_pair')}; "
        f"redis-cli -a {m('secret_pair')}; curl -u bob:{m('secret_pair')} https://x",
        {"secret_pair": 4},
    ),
    case(
        "argv-lookalikes",
        "ssh -p 2222 host; mysql -p shop; docker run -p 8080:80 x; --password is deprecated; --password $DB_PASS",
        "ssh -p 2222 host; mysql -p shop; docker run -p 8080:80 x; --password is deprecated; --password $DB_PASS",
    ),
    case(
        "argv-list-in-metadata",
        {"argv": ["app", "--password", "hunter2", "--port", "80"], "cmd": ["/usr/bin/sshpass", "-p", "pw9", "ssh"]},
        {
            "argv": ["app", "--password", m("secret_pair"), "--port", "80"],
            "cmd": ["/usr/bin/sshpass", "-p", m("secret_pair"), "ssh"],
        },
        {"secret_pair": 2},
        field="metadata",
    ),
    case(
        "xml-secret-element",
        "<user>bob</user><Password>hunter2</Password>",
        f"<user>bob</user><Password>{m('secret_pair')}</Password>",
        {"secret_pair": 1},
    ),
    case(
        "env-style-names-in-text",
        "DB_PASS=a1 SMTP_PW=b2 STRIPE_KEY=c3 cache_key=d4 partition-key: e5 first_pass=f6",
        f"DB_PASS={m('secret_pair')} SMTP_PW={m('secret_pair')} STRIPE_KEY={m('secret_pair')} cache_key=d4"
        " partition-key: e5 first_pass=f6",
        {"secret_pair": 3},
    ),
    case(
        "pair-placeholders-kept",
        "password=*** token: ${TOKEN} secret=<secret> api_key=null password: [hidden]",
        "password=*** token: ${TOKEN} secret=<secret> api_key=null password: [hidden]",
    ),
    case(
        "pair-arn-segment-is-not-a-pair",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db",
    ),
    # sensitive key names: words, globs and descriptions
    case(
        "key-env-style-names-at-depth",
        {"env": {"DB_PASS": "a", "SMTP_PW": "b", "STRIPE_KEY": "c", "dbCreds": "d", "HOME": "/root"}},
        {"env": {k: m("sensitive_key") for k in ("DB_PASS", "SMTP_PW", "STRIPE_KEY", "dbCreds")} | {"HOME": "/root"}},
        {"sensitive_key": 4},
        field="metadata",
    ),
    case(
        "key-descriptions-and-non-secret-keys",
        {
            "token_type": "Bearer",
            "max_tokens": 1024,
            "password_length": 12,
            "secret_name": "prod/db",
            "cache_key": "u:1",
            "public_key": "ssh-ed25519 AAAA",
            "passenger": "Bob",
            "classname": "Foo",
            "key": "x",
        },
        {
            "token_type": "Bearer",
            "max_tokens": 1024,
            "password_length": 12,
            "secret_name": "prod/db",
            "cache_key": "u:1",
            "public_key": "ssh-ed25519 AAAA",
            "passenger": "Bob",
            "classname": "Foo",
            "key": "x",
        },
        field="metadata",
    ),
    case(
        "key-placeholder-value-not-counted",
        {"password": "***", "token": "${TOKEN}"},
        {"password": "***", "token": "${TOKEN}"},
        field="metadata",
    ),
    case(
        "key-custom-glob",
        {"user_pin": "1234", "pinned": True, "spin": "x"},
        {"user_pin": m("sensitive_key"), "pinned": True, "spin": "x"},
        {"sensitive_key": 1},
        field="metadata",
        keys=("*_pin",),
    ),
    case(
        "key-glob-words",
        {"pass": "a", "db_pass": "b", "bypass": "c", "compass": "d", "x_ssn": "e", "classname": "f"},
        {"pass": m("sensitive_key"), "db_pass": m("sensitive_key"), "bypass": "c", "compass": "d"}
        | {"x_ssn": m("sensitive_key"), "classname": "f"},
        {"sensitive_key": 3},
        field="metadata",
    ),
    case(
        "key-words-that-only-look-secret",
        {"author": "Jane", "secretary": "Bob", "tokenizer": "cl100k", "nextPageToken": "c2", "auth_header": "x"},
        {"author": "Jane", "secretary": "Bob", "tokenizer": "cl100k", "nextPageToken": "c2"}
        | {"auth_header": m("sensitive_key")},
        {"sensitive_key": 1},
        field="metadata",
    ),
    case(
        "key-paths-are-not-secrets",
        {"PWD": "/app", "ssh_key": "~/.ssh/id_rsa", "win_password": "C:\\secrets\\pw.txt", "pwd2": "/x y"},
        {"PWD": "/app", "ssh_key": "~/.ssh/id_rsa", "win_password": "C:\\secrets\\pw.txt"}
        | {"pwd2": m("sensitive_key")},
        {"sensitive_key": 1},
        field="metadata",
    ),
    case(
        "pair-bare-pass-and-pw",
        "user=bob pass=hunter2 pw: s3cret tests pass=12",
        f"user=bob pass={m('secret_pair')} pw: {m('secret_pair')} tests pass=12",
        {"secret_pair": 2},
    ),
    case(
        "pair-cursor-tokens-kept",
        "next_page_token=abc nextPageToken=def access_token=ghi",
        f"next_page_token=abc nextPageToken=def access_token={m('secret_pair')}",
        {"secret_pair": 1},
    ),
    case("pair-path-values-kept", "PWD=/home/app key_file=/etc/k.pem", "PWD=/home/app key_file=/etc/k.pem"),
    case(
        "basic-credentials-without-header",
        "sent Basic Ym9iOnMzY3IzdA== then Basic authentication failed",
        f"sent Basic {m('bearer')} then Basic authentication failed",
        {"bearer": 1},
    ),
    case("email-ssh-url-user", "ssh://git@github.com/org/repo", "ssh://git@github.com/org/repo"),
    # optional rules: look-alikes with every rule on
    case(
        "optional-rules-lookalikes",
        "bind 0.0.0.0:8080 mask 255.255.255.0 job 2026-1207-0042 order-4242424242424242 ticket 123-456-7890",
        "bind 0.0.0.0:8080 mask 255.255.255.0 job 2026-1207-0042 order-4242424242424242 ticket 123-456-7890",
        rules=ALL_ON,
    ),
    # look-alikes that must survive the default rules
    case(
        "lookalike-uuid",
        "order 123e4567-e89b-12d3-a456-426614174000 ok",
        "order 123e4567-e89b-12d3-a456-426614174000 ok",
    ),
    case(
        "lookalike-trace-span-ids",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    ),
    case(
        "lookalike-timestamps",
        "at 2024-05-01T12:30:45.123456+09:00 / 2024-05-01 12:30:45,123 / Wed, 01 May 2024 12:30:45 GMT",
        "at 2024-05-01T12:30:45.123456+09:00 / 2024-05-01 12:30:45,123 / Wed, 01 May 2024 12:30:45 GMT",
    ),
    case(
        "lookalike-epochs",
        "ts 1700000000 ms 1700000000123 us 1700000000123456 ns 1700000000123456789",
        "ts 1700000000 ms 1700000000123 us 1700000000123456 ns 1700000000123456789",
    ),
    case(
        "lookalike-order-id-fails-luhn",
        "order 4111111111111112 and 2024050112345678",
        "order 4111111111111112 and 2024050112345678",
    ),
    case("lookalike-durations", "took 1534ms (p99 2.5s, 0.000123s)", "took 1534ms (p99 2.5s, 0.000123s)"),
    case(
        "lookalike-http-path",
        "GET /api/v1/users/123/orders?page=2&sort=desc",
        "GET /api/v1/users/123/orders?page=2&sort=desc",
        field="endpoint",
    ),
    case(
        "lookalike-prose",
        "token expired, password reset requested, secret rotation done, api key missing",
        "token expired, password reset requested, secret rotation done, api key missing",
    ),
    case(
        "lookalike-key-prefixes",
        "tokens=1532 input_tokens=12 password_reset=true token_count=3 pwd_changed_at=now",
        "tokens=1532 input_tokens=12 password_reset=true token_count=3 pwd_changed_at=now",
    ),
    case(
        "lookalike-versions", "v1.2.3 and 10.4.12 and 1.2.3.4 (ipv4 kept)", "v1.2.3 and 10.4.12 and 1.2.3.4 (ipv4 kept)"
    ),
    case(
        "lookalike-at-signs",
        "icon@2x.png react@18.2.0 com.example.Foo@1b6d3586 @decorator user@localhost",
        "icon@2x.png react@18.2.0 com.example.Foo@1b6d3586 @decorator user@localhost",
    ),
    case(
        "lookalike-digests-and-floats",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 x=0.30000000000000004",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 x=0.30000000000000004",
    ),
    case(
        "already-redacted-is-stable",
        f"password={m('secret_pair')} token={h('jwt', 'x')} Authorization: Bearer {m('bearer')} by {m('email')}",
        f"password={m('secret_pair')} token={h('jwt', 'x')} Authorization: Bearer {m('bearer')} by {m('email')}",
    ),
]


@pytest.mark.parametrize(("field", "given", "expected", "counts", "rules", "custom", "keys"), CASES)
def test_redact_record_field(
    field: str,
    given: Any,
    expected: Any,
    counts: dict[str, int],
    rules: dict[str, str],
    custom: tuple[tuple[str, str], ...],
    keys: tuple[str, ...],
) -> None:
    # Given a record holding the value in one field, next to fields that must not change
    settings = RedactionSettings(
        rules={name: Action(action) for name, action in rules.items()},
        hash_key=KEY,
        sensitive_keys=keys,
        custom_rules=custom,
    )
    record = {**copy.deepcopy(UNTOUCHED), field: copy.deepcopy(given)}

    # When it is redacted
    got = Redactor(settings).redact_record(record)

    # Then exactly that field changed, as expected, and the counts say how many values each rule replaced
    assert record == {**UNTOUCHED, field: expected}
    assert got == Counter(counts)


def test_case_table_is_large_enough() -> None:
    assert len(CASES) >= 80


def test_every_text_field_is_redacted_and_counts_add_up() -> None:
    # Given a record with an e-mail address in every text field and in metadata
    fields = (
        "message",
        "stack_trace",
        "user_id",
        "session_id",
        "endpoint",
        "page_path",
        "page_url",
        "error_type",
        "module",
        "component",
        "action_target",
    )
    record: dict[str, Any] = {name: f"x bob@example.com {name}" for name in fields}
    record |= copy.deepcopy(UNTOUCHED) | {"metadata": {"who": "bob@example.com"}, "duration_ms": 4111111111111111}

    # When it is redacted
    counts = Redactor(RedactionSettings()).redact_record(record)

    # Then every text field and the metadata changed, nothing was added, and other fields stayed as they were
    assert counts == Counter({"email": len(fields) + 1})
    assert all(record[name] == f"x {m('email')} {name}" for name in fields)
    assert record["metadata"] == {"who": m("email")}
    assert record["duration_ms"] == 4111111111111111
    assert {k: record[k] for k in UNTOUCHED} == UNTOUCHED
    assert set(record) == set(fields) | set(UNTOUCHED) | {"metadata", "duration_ms"}


def test_hash_is_stable_keyed_and_shared_across_fields() -> None:
    # Given two redactors with the same key and one with another key
    settings = RedactionSettings(rules={"email": Action.HASH}, hash_key=KEY)
    first, second = Redactor(settings), Redactor(settings)
    other = Redactor(RedactionSettings(rules={"email": Action.HASH}, hash_key=OTHER_KEY))

    # When the same address is redacted in several places and calls
    record = {"message": "hi bob@example.com", "user_id": "bob@example.com"}
    first.redact_record(record)
    again = first.redact_text("bob@example.com", Counter())
    elsewhere = second.redact_text("bob@example.com", Counter())
    different = other.redact_text("bob@example.com", Counter())
    another_value = first.redact_text("ann@example.com", Counter())

    # Then the same value always hashes the same with the same key, and differently otherwise
    assert record["user_id"] == again == elsewhere == h("email", "bob@example.com")
    assert record["message"] == f"hi {again}"
    assert different == h("email", "bob@example.com", OTHER_KEY) != again
    assert another_value != again
    assert re.fullmatch(r"\[HASH:email:[0-9a-f]{10}\]", again)
    assert hashlib.sha256(b"bob@example.com").hexdigest()[:10] not in again


def test_redact_text_adds_to_the_given_counter() -> None:
    counts: Counter[str] = Counter({"email": 2})

    out = Redactor(RedactionSettings()).redact_text("a@example.com password=x", counts)

    assert out == f"{m('email')} password={m('secret_pair')}"
    assert counts == Counter({"email": 3, "secret_pair": 1})


def test_redaction_is_idempotent() -> None:
    redactor = Redactor(RedactionSettings(rules=dict.fromkeys(BUILTIN_RULES, Action.HASH), hash_key=KEY))
    text = f"{PYTHON_TRACE}\n{JAVA_TRACE}\nAuthorization: Bearer {JWT} from 10.0.0.1 +1 415 555 0132"

    once = redactor.redact_text(text, Counter())
    counts: Counter[str] = Counter()
    twice = redactor.redact_text(once, counts)

    assert once != text
    assert twice == once
    assert counts == Counter()


def test_deeply_nested_metadata_does_not_exhaust_the_stack() -> None:
    # Given metadata nested far deeper than the interpreter's recursion limit
    depth = 5000
    metadata: dict[str, Any] = {"leaf": "mail bob@example.com", "password": "x"}
    for _ in range(depth):
        metadata = {"child": [metadata]}

    # When it is redacted
    counts = Redactor(RedactionSettings()).redact_record({"metadata": metadata})

    # Then the leaf was reached
    assert counts == Counter({"email": 1, "sensitive_key": 1})
    node: Any = metadata
    for _ in range(depth):
        node = node["child"][0]
    assert node == {"leaf": f"mail {m('email')}", "password": m("sensitive_key")}


def test_hashing_a_structure_json_cannot_sort_still_redacts_it() -> None:
    redactor = Redactor(RedactionSettings(rules={"sensitive_key": Action.HASH}, hash_key=KEY))
    record: dict[str, Any] = {"metadata": {"secret": {1: "a", "b": 2}}}

    counts = redactor.redact_record(record)

    assert record["metadata"]["secret"] == h("sensitive_key", repr({1: "a", "b": 2}))
    assert counts == Counter({"sensitive_key": 1})


def test_settings_refuse_hashing_without_a_real_key() -> None:
    with pytest.raises(ValueError, match="hash_key"):
        RedactionSettings(rules={"email": Action.HASH})
    with pytest.raises(ValueError, match="hash_key"):
        RedactionSettings(rules={"email": Action.HASH}, hash_key=b"short")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"rules": {"emial": Action.MASK}}, "unknown redaction rules: emial", id="unknown-rule"),
        pytest.param({"rules": {"email": "scramble"}}, "scramble", id="unknown-action"),
        pytest.param({"custom_rules": (("Bad Name", "x"),)}, "must match", id="custom-bad-name"),
        pytest.param({"custom_rules": (("email", "x"),)}, "already taken", id="custom-builtin-name"),
        pytest.param({"custom_rules": (("a", "x"), ("a", "y"))}, "already taken", id="custom-duplicate"),
        pytest.param({"custom_rules": (("a", "(unclosed"),)}, "not a valid regex", id="custom-bad-regex"),
        pytest.param({"custom_rules": (("a", "x*"),)}, "empty string", id="custom-empty-match"),
        pytest.param({"sensitive_keys": ("--",)}, "letter or digit", id="sensitive-key-no-letters"),
    ],
)
def test_settings_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedactionSettings(**kwargs)


def test_settings_fill_in_defaults_for_rules_not_named() -> None:
    settings = RedactionSettings(rules={"ipv4": Action.MASK}, custom_rules=(("emp", "EMP-[0-9]+"),))

    assert settings.rules == {**DEFAULT_ACTIONS, "ipv4": Action.MASK, "emp": Action.MASK}


# from_env


def test_from_env_defaults() -> None:
    settings = RedactionSettings.from_env({"PATH": "/usr/bin", "LOGLENS_OTHER": "x"})

    assert settings == RedactionSettings()
    assert settings.rules == DEFAULT_ACTIONS
    assert settings.hash_key == b""
    assert settings.custom_rules == ()


def test_from_env_reads_every_setting() -> None:
    env = {
        "LOGLENS_REDACT_EMAIL": " HASH ",
        "LOGLENS_REDACT_IPV4": "mask",
        "LOGLENS_REDACT_SECRET_PAIR": "keep",
        "LOGLENS_REDACT_HASH_KEY": "k" * 32,
        "LOGLENS_REDACT_SENSITIVE_KEYS": "ssn, X-Internal-Sig ,,",
        "LOGLENS_REDACT_CUSTOM": '{"employee_id": "EMP-[0-9]{6}", "ticket": "T-[0-9]+"}',
        "LOGLENS_REDACT_TICKET": "hash",
    }

    settings = RedactionSettings.from_env(env)

    assert settings.rules["email"] is Action.HASH
    assert settings.rules["ipv4"] is Action.MASK
    assert settings.rules["secret_pair"] is Action.KEEP
    assert settings.rules["card"] is Action.MASK
    assert settings.rules["employee_id"] is Action.MASK
    assert settings.rules["ticket"] is Action.HASH
    assert settings.hash_key == b"k" * 32
    assert settings.sensitive_keys == ("ssn", "xinternalsig")
    assert settings.custom_rules == (("employee_id", "EMP-[0-9]{6}"), ("ticket", "T-[0-9]+"))


def test_from_env_sensitive_keys_can_extend_the_defaults() -> None:
    settings = RedactionSettings.from_env({"LOGLENS_REDACT_SENSITIVE_KEYS": "default,ssn"})

    assert settings.sensitive_keys == (*RedactionSettings().sensitive_keys, "ssn")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        pytest.param({"LOGLENS_REDACT_EMAIL": "redact"}, "LOGLENS_REDACT_EMAIL", id="bad-action"),
        pytest.param({"LOGLENS_REDACT_CARD": ""}, "LOGLENS_REDACT_CARD", id="empty-action"),
        pytest.param({"LOGLENS_REDACT_EMIAL": "mask"}, "LOGLENS_REDACT_EMIAL", id="misspelt-rule"),
        pytest.param({"LOGLENS_REDACT_EMAIL": "hash"}, "LOGLENS_REDACT_HASH_KEY", id="hash-without-key"),
        pytest.param({"LOGLENS_REDACT_HASH_KEY": "short"}, "LOGLENS_REDACT_HASH_KEY", id="short-key"),
        pytest.param({"LOGLENS_REDACT_SENSITIVE_KEYS": " , "}, "LOGLENS_REDACT_SENSITIVE_KEYS", id="empty-keys"),
        pytest.param({"LOGLENS_REDACT_SENSITIVE_KEYS": "ssn,--"}, "LOGLENS_REDACT_SENSITIVE_KEYS", id="bad-key"),
        pytest.param({"LOGLENS_REDACT_CUSTOM": "{not json"}, "LOGLENS_REDACT_CUSTOM", id="custom-not-json"),
        pytest.param({"LOGLENS_REDACT_CUSTOM": '["EMP-1"]'}, "LOGLENS_REDACT_CUSTOM", id="custom-not-object"),
        pytest.param({"LOGLENS_REDACT_CUSTOM": '{"a": 1}'}, "LOGLENS_REDACT_CUSTOM", id="custom-not-string"),
        pytest.param({"LOGLENS_REDACT_CUSTOM": '{"a": "("}'}, "LOGLENS_REDACT_CUSTOM", id="custom-bad-regex"),
        pytest.param({"LOGLENS_REDACT_CUSTOM": '{"jwt": "x"}'}, "LOGLENS_REDACT_CUSTOM", id="custom-builtin-name"),
        pytest.param({"LOGLENS_REDACT_CUSTOM": '{"hash_key": "x"}'}, "LOGLENS_REDACT_CUSTOM", id="custom-reserved"),
        pytest.param({"LOGLENS_REDACT_CUSTOM": '{"a": ".*"}'}, "LOGLENS_REDACT_CUSTOM", id="custom-empty-match"),
        pytest.param({"LOGLENS_REDACT_TICKET": "mask"}, "LOGLENS_REDACT_TICKET", id="action-for-undeclared-custom"),
    ],
)
def test_from_env_rejects_invalid_values_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable):
        RedactionSettings.from_env(env)


def test_from_env_error_does_not_echo_the_hash_key() -> None:
    with pytest.raises(ValueError) as raised:
        RedactionSettings.from_env({"LOGLENS_REDACT_HASH_KEY": "s3cr3t-but-short"[:12]})

    assert "s3cr3t" not in str(raised.value)


# Linear time on hostile input. Each rule's pathological inputs are timed against a clean log text of the
# same size in the same test, so the limit is a ratio that survives a slow or busy machine; a quadratic
# pattern is thousands of times slower at 1 MB. The 16 KB round fails in seconds rather than hanging.

RATIO_LIMIT = 50
SIZES = (16 * 1024, 1024 * 1024)
CLEAN_LOG = (
    "GET /api/v1/orders/12345 returned 200 in 35ms trace 4bf92f3577b34da6a3ce929d0e0e4736 "
    "retry 2 of 5 at 2024-05-01T12:00:00Z for tenant acme-prod, cache key miss, user session ok\n"
)
# Each entry is (unit, tail): the unit repeated to the size, then the tail, which wakes the rule's cheap
# pre-check up so that the pattern itself has to scan the whole run.
HOSTILE: dict[str, tuple[tuple[str, str], ...]] = {
    "email": (
        ("a", ""),
        ("@", ""),
        ("a@", ""),
        ("a@a.", ""),
        (".a@", ""),
        ("a@1.", ""),
        ("a", "@"),
        ("a.", "@a"),
        ("%41", "@"),
        ("a%40", ""),
        ("%4", "%40"),
    ),
    "card": (
        ("4", ""),
        ("4 ", ""),
        ("4444 ", ""),
        ("4444-", ""),
        ("1 ", ""),
        ("4111 1111 1111 1111 ", ""),
        ("4.", ""),
        ("4111.1111.", ""),
        ("order-4242424242424242 ", ""),
        ("id=4242424242424242 ", ""),
    ),
    "jwt": (("eyJ", ""), ("eyJ.", ""), ("eyJa.", ""), ("eyJaa.a.a", ""), ("a", "eyJ"), ("eyJaa.", "")),
    "bearer": (
        ("Bearer ", ""),
        ("a", " bearer "),
        ("authorization: ", ""),
        ("Authorization: Bearer ", ""),
        ("Basic ", ""),
        ("basic YWJj", ""),
        ("a", " basic "),
    ),
    "aws_access_key": (("AKIA", ""), ("A", "AKIA"), ("ASIA1", ""), ("secret_access_key: ", "")),
    "secret_pair": (
        ("=", " token"),
        ("password=", ""),
        ("password", ""),
        ("token: ", ""),
        ('"token":"\\', ""),
        ("pwd='", ""),
        ("a://a:", ""),
        ("://a:a@", ""),
        (":", "://@"),
        ("cookie: ", ""),
        ("a", " cookie="),
        ("--password ", ""),
        ("--a ", ""),
        ("-", " --"),
        ("mysql ", ""),
        ("mysql -u ", ""),
        ("curl -u ", ""),
        ("sshpass a ", ""),
        ("<password>", ""),
        ("<a", "password></"),
        ("a_key=a ", ""),
        ("db_pass=", ""),
        ("pass=", ""),
        ("next_page_token=", ""),
        ("PWD=/", ""),
        ("_", "key="),
    ),
    "private_key": (
        ("-----BEGIN PRIVATE KEY-----", ""),
        ("-----BEGIN PRIVATE KEY-----a-", ""),
        ("-----BEGIN A", " PRIVATE KEY"),
        ("-", "PRIVATE KEY"),
        ("LS0tLS1CRUdJTi", ""),
        ("LS0tLS1CRUdJTiAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ", ""),
    ),
    "stripe_key": (("sk_live_", ""), ("sk_live_a", ""), ("sk_live_" + "a1" * 10 + "_", ""), ("a", "whsec_")),
    "slack_token": (("xoxb-", ""), ("xoxb-1", ""), ("xoxb-1-1-", ""), ("-1", "xoxb")),
    "webhook_url": (("hooks.slack.com/services/", ""), ("a", "hooks.slack.com/services/"), ("/api/webhooks/", "")),
    "github_token": (("ghp_", ""), ("ghp_a", ""), ("github_pat_", ""), ("a", "ghp_")),
    "api_token": (
        ("AIza", ""),
        ("sk-", ""),
        ("sk-ant-aa00-", ""),
        ("1", ":AA"),
        ("bot1234567890:AA", ""),
        ("SG.", ""),
        ("gl", ""),
        ("hvs.", ""),
    ),
    "iban": (("DE89 ", ""), ("DE89", ""), ("A", "DE89"), ("DE89 AAAA ", ""), ("D", "")),
    "us_ssn": (("123-45-", ""), ("1-", ""), ("ssn ", ""), ("ssn: 123", "")),
    "kr_rrn": (("900101-", ""), ("1-", ""), ("주민", ""), ("주민번호 ", ""), ("a", "rrn")),
    "phone": (("+1", ""), ("1 ", ""), ("+1 ", ""), ("(1", ""), ("(12) ", ""), ("123-", ""), ("+1-(1)", "")),
    "ipv4": (("1.", ""), ("255.", ""), ("1.1.1.1.", ""), ("256.", ""), ("0.0.0.0 ", "")),
    "ipv6": ((":", ""), ("a:", ""), ("1:", ""), ("::1:", ""), ("ffff:", ""), ("1.1.1.1:", "")),
}


def _fill(unit: str, size: int, tail: str = "") -> str:
    body = size - len(tail)
    return (unit * (body // len(unit) + 1))[:body] + tail


def _best_of_3(run: Callable[[], object], stop_below: float = 0.0) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
        if best < stop_below:  # the best of three can only be lower still
            break
    return best


@pytest.mark.slow
@pytest.mark.parametrize("rule", sorted(HOSTILE))
def test_hostile_input_runs_in_linear_time(rule: str) -> None:
    # Given every built-in rule switched on, so each pattern runs on every input
    redactor = Redactor(RedactionSettings(rules=dict.fromkeys(BUILTIN_RULES, Action.MASK)))
    for size in SIZES:
        baseline = _best_of_3(partial(redactor.redact_text, _fill(CLEAN_LOG, size), Counter()))
        for unit, tail in HOSTILE[rule]:
            # When a pathological input of the same size is redacted
            hostile = partial(redactor.redact_text, _fill(unit, size, tail), Counter())
            took = _best_of_3(hostile, RATIO_LIMIT * baseline)

            # Then it costs at most a constant factor more than clean text
            ratio = took / baseline
            assert ratio < RATIO_LIMIT, f"{rule}: {unit[:20]!r}+{tail!r} x{size} took {ratio:.0f}x the clean baseline"
