"""Redact PII and secrets from a log record before it is stored or forwarded.

Every pattern runs in linear time on hostile input: repetitions are bounded or possessive, and a
left-context look-behind stops a pattern from being retried inside a run it already rejected. A
pattern is skipped outright unless cheap tests say it could match (a substring, the text's length, a
digit, a capital, a token-like run), so a clean message costs mostly ``in`` tests; short strings
already seen clean cost a set lookup. Custom rules run before the built-in ones, so what a deployment
names itself counts under its own name. Redaction never logs, and counts never carry values.

Look-alike policy, what survives on purpose:

- UUIDs, trace/span ids, hashes, timestamps, epoch numbers, durations, paths and versions. Tokens are
  recognised by a vendor prefix and shape, never by entropy alone: 40 hex digits may be a commit.
- Cards: a 13-19 digit number is a card only if it starts with 2-6 and passes Luhn, so most order
  ids survive and epoch times always do. In card-like groups (``4111 1111 1111 1111``, spaces, dashes
  or dots) it is a card wherever it stands. As one run of digits it is a card when it stands alone,
  not when it is part of an identifier: joined to a name (``order-4242…``, ``ord_4242…``, ``#4242…``)
  or the value of an id-like key (``order_id=4242…``), unless a card word (card, pan, cc, visa, …)
  comes right before it. In metadata, a number under a key naming an identifier or a quantity
  (``order_id``, ``bytes``, ``duration_ms``) is that, as is a numeric ``user_id`` or ``session_id``.
- IBANs need their country's length and a valid mod-97 checksum; a US SSN its hyphens and an area,
  group and serial that can be issued; a Korean resident registration number its hyphen, a real
  birth date and a valid check digit (numbers issued since October 2020 carry none, so those need
  a word such as 주민등록번호 or RRN before them, as every number written without its hyphen does).
- Key names: a value under a key that only describes a secret is kept (``token_type``,
  ``max_tokens``, ``password_length``, ``secret_name``), as are placeholders (``***``, ``${DB_PASS}``,
  ``<password>``, ``null``) and the values of non-secret ``*_key`` names (``cache_key``,
  ``idempotency_key``, ``public_key``, ``sort_key``, …).
- Command lines: the value of a secret flag (``--password x``, ``--api-key x``) is a secret; short
  flags only where the tool makes them unambiguous (``sshpass -p``, ``mysql -pX``, ``redis-cli -a``,
  ``mongosh -p``, ``curl -u user:pass``), never a bare ``-p`` (a port to many tools).
- Optional rules: four dotted octets each at most 255 are an IPv4 address even when meant as a
  version (``1.2.3.4``), except 0.x.x.x (``0.0.0.0:8080`` binds every interface) and 255.x.x.x
  (masks, broadcast); ``v1.2.3.4`` and three-part versions are not addresses. A phone number written
  without a country code starts with a trunk 0 or a three-digit North American area code, so dated
  ids (``2026-1207-0042``) are not phone numbers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, NamedTuple

__all__ = [
    "BUILTIN_RULES",
    "DEFAULT_ACTIONS",
    "DEFAULT_SENSITIVE_KEYS",
    "TEXT_FIELDS",
    "Action",
    "RedactionSettings",
    "Redactor",
]


class Action(StrEnum):
    MASK = "mask"
    HASH = "hash"
    KEEP = "keep"


BUILTIN_RULES: Final[tuple[str, ...]] = (
    "email",
    "card",
    "jwt",
    "bearer",
    "aws_access_key",
    "secret_pair",
    "sensitive_key",
    "private_key",
    "stripe_key",
    "slack_token",
    "webhook_url",
    "github_token",
    "api_token",
    "iban",
    "us_ssn",
    "kr_rrn",
    "ipv4",
    "ipv6",
    "phone",
)

DEFAULT_ACTIONS: Final[Mapping[str, Action]] = MappingProxyType(
    {
        **dict.fromkeys(BUILTIN_RULES, Action.MASK),
        "ipv4": Action.KEEP,
        "ipv6": Action.KEEP,
        "phone": Action.KEEP,
    }
)

# A plain entry matches any key name that contains it once everything but letters and digits is
# dropped ("x-api-key" contains "apikey"). An entry with * is a glob over the name's words joined by
# "_": "DB_PASS" and "dbPass" are both "db_pass", and "*_pass" matches it and "pass" (a leading "*_"
# stands for any words or none; a trailing "_*" likewise) but not "bypass" or "passenger".
DEFAULT_SENSITIVE_KEYS: Final[tuple[str, ...]] = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "set-cookie",
    "session",
    "private_key",
    "client_secret",
    "credential",
    "jwt",
    "card_number",
    "cvv",
    "cvc",
    "*_pass",
    "*_pw",
    "*_key",
    "*_keys",
    "*_creds",
    "*_ssn",
    "*_rrn",
    "*_national_id",
)

TEXT_FIELDS: Final[tuple[str, ...]] = (
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

MIN_HASH_KEY_BYTES: Final = 16
HASH_HEX_CHARS: Final = 10

_ENV_PREFIX: Final = "LOGLENS_REDACT_"
_ENV_HASH_KEY: Final = _ENV_PREFIX + "HASH_KEY"
_ENV_SENSITIVE_KEYS: Final = _ENV_PREFIX + "SENSITIVE_KEYS"
_ENV_CUSTOM: Final = _ENV_PREFIX + "CUSTOM"
_RESERVED_CUSTOM_NAMES: Final = frozenset({"hash_key", "sensitive_keys", "custom"})
_CUSTOM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_KEY_NOISE = re.compile(r"[^0-9a-z]+")
# The words of a key name: "XMLHttpRequest" is xml, http, request; "s3Key" is s3, key.
_KEY_WORD = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A key whose last word is one of these describes a secret rather than holding it.
_DESCRIPTOR_WORDS: Final = _word_set(
    "count counts total tokens length len size ttl age timeout expiry expires expired expiration in at time "
    "date type types kind name names arn version enabled disabled required present set valid status source "
    "provider method methods mode scheme policy rotation rotated file path url uri endpoint format algorithm "
    "alg attempts retries changed updated created reset hint label description field strength min max limit "
    "ms seconds sec"
)
# "*_key" names that are not secrets: a key of a cache, a table, a message or a public key.
_NON_SECRET_KEY_WORDS: Final = _word_set(
    "public cache partition sort range primary foreign idempotency dedup dedupe deduplication object s3 "
    "bucket routing row map group lookup search message shard index unique composite natural surrogate "
    "translation i18n hot sequence label tag metric feature flag cursor page pagination order join ref event "
    "job task queue lock limit redis kafka record entity item config setting settings state field column "
    "attribute attr property prop locale file upload blob asset image prefix node cluster project schema "
    "table dict json yaml kms sorting hotkey"
)
_NOT_A_PASS_WORDS: Final = _word_set("first second third last next final single multi by test tests render")
# Words that contain a sensitive entry but mean something else: a name made of them is not a secret's.
_NOT_SECRET_WORDS: Final = _word_set(
    "author authors authored authority authorities secretary secretaries secretariat tokenizer tokenizers "
    "tokenize tokenized tokenization passenger passengers passage passages"
)
# A token after one of these words is a cursor into a listing, not a credential (next_page_token).
_CURSOR_WORDS: Final = ("page", "pagination", "continuation", "cursor", "next", "sync", "resume", "scroll", "delta")
# The last word of a key naming an identifier or a quantity: a number under it is that, not a card.
_ID_WORDS: Final = _word_set("id ids uid uuid guid ref no nr num seq sequence")
_NUMBER_WORDS: Final = _ID_WORDS | _word_set(
    "count counts total bytes size length len amount duration elapsed latency offset ms us ns millis micros "
    "nanos seconds sec ts timestamp time epoch at version rows records items"
)
_CARD_WORD = re.compile(
    r"card|credit|debit|visa|mastercard|amex|diners|jcb|unionpay|maestro|(?<![a-z])(?:pan|cc)(?![a-z])",
    re.IGNORECASE,
)
# Values that stand in for a secret rather than being one.
_PLACEHOLDER_VALUE = re.compile(
    r"true|false|null|none|nil|undefined|n/?a|empty|unset|missing|required|invalid|incorrect|expired"
    r"|\*+|x{3,}|\.{3}|…|\[[a-z _-]{0,20}\]?|\{\}|<[^<>\n]{0,40}>|\{\{[^{}\n]{0,80}\}\}"
    r"|\$\{?[a-z_][a-z0-9_]*\}?|%[a-z_][a-z0-9_]*%",
    re.IGNORECASE,
)
_PATH_VALUE = re.compile(r"(?:/|~/|[A-Za-z]:\\)[\w.@+~/\\-]*")  # PWD=/app, ssh_key=~/.ssh/id_rsa
_ARGV_STOPWORDS: Final = _word_set(
    "is are was be to for and or the a an in on of with not must should flag option argument value instead only from"
)
_SECRET_FLAG_WORDS: Final = _word_set("password passwd pass pwd pw secret token passphrase apikey")

# A value already replaced by this module is never redacted again, so redaction is idempotent.
_PLACEHOLDER_PREFIXES: Final = ("[REDACTED:", "[HASH:")
_NOT_PLACEHOLDER = r"(?!\[(?:REDACTED|HASH|redacted|hash):)"
# Separator of key=value, key: value, "key": "value", 'key': 'value', "key"=>"value" and
# JSON-inside-JSON \"key\": \"value\" forms (the optional quote closes a quoted key).
_SEP = r"""(?:\\?["'])?[ \t]{0,8}+(?:=>|:|=(?!>))[ \t]{0,8}+"""
# A quoted value runs to its closing quote or, when a log line was truncated, to the end of the
# line; the placeholder check follows each opening quote ('"[REDACTED:x]"' is no value to redact).
_QUOTED = (
    r'(?:"'
    + _NOT_PLACEHOLDER
    + r"""(?P<dq>(?:[^"\\\n]|\\.?)*+)"?"""
    + r"|'"
    + _NOT_PLACEHOLDER
    + r"""(?P<sq>(?:[^'\\\n]|\\.?)*+)'?"""
    + r'|\\"'
    + _NOT_PLACEHOLDER
    + r"""(?P<eq>(?:[^\\\n]|\\[^"\n])*+)(?:\\")?"""
)
# A bare value stops at whitespace, quotes, '&' and at ,;)]} that end it (one followed by another
# delimiter or by the end): "User(password=hunter2)" keeps its ')' while "pa)ss" is whole.
_VALUE = _NOT_PLACEHOLDER + _QUOTED + r"""|(?P<bare>(?:[^\s"'&,;)\]}]|[,;)\]}](?=[^\s"'&,;)\]}]))++))"""
_VALUE_GROUPS: Final = ("dq", "sq", "eq", "bare")

_JWT = (
    r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+"
    r"(?:\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++)?+"  # the two extra segments of an encrypted JWT
)
# A body stops at the next five dashes, so a BEGIN without its END costs one scan, not one per BEGIN.
_PEM_PRIVATE_KEY = (
    r"-----BEGIN[A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----(?:[^-]++|-(?!----))*+"
    r"(?:-----END[A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----)?+"
)
_PEM_BASE64 = r"(?<![A-Za-z0-9+/])LS0tLS1CRUdJTi[A-Za-z0-9+/]{30,}+={0,2}+"  # base64 of "-----BEGIN"
_STRIPE_KEY = (
    r"(?<![A-Za-z0-9_])(?:[spr]k_(?:live|test)_(?P<body>[0-9A-Za-z]{16,247}+)|whsec_(?P<wh>[0-9A-Za-z+/=]{20,}+))"
    r"(?![0-9A-Za-z_])"
)
_SLACK_XOX = r"(?<![A-Za-z0-9_-])(?:xox[abeoprs]|xapp)(?P<body>(?:-[0-9A-Za-z]{1,100}+){2,8}+)(?![0-9A-Za-z_-])"
# The host stays readable; the path is the credential.
_WEBHOOK_URL = (
    r"(?:hooks\.slack\.com/(?:services|workflows|triggers)|discord(?:app)?\.com/api/webhooks"
    r"|\.webhook\.office\.com/webhookb2)/(?P<cred>[^\s\"'<>?#\\]{8,1024}+)"
)
_GITHUB_GH = (
    r"(?<![A-Za-z0-9_])(?P<body>gh[pousr]_[A-Za-z0-9]{30,251}+|github_pat_[A-Za-z0-9_]{30,251}+)(?![A-Za-z0-9_])"
)
_VENDOR_PREFIXED = (
    r"(?<![A-Za-z0-9_-])(?P<body>AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|GOCSPX-[A-Za-z0-9_-]{28}|ya29\.[0-9A-Za-z_-]{20,}+"  # Google OAuth client secret, access token
    r"|npm_[A-Za-z0-9]{36}"
    r"|gl(?:pat|dt|rt|ptt|ft|soat)-[0-9A-Za-z_-]{20,}+"  # GitLab
    r"|sk-ant-[a-z]{2,10}[0-9]{2}-[A-Za-z0-9_-]{20,}+"  # Anthropic
    r"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}+|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|sk-[A-Za-z0-9]{48}"
    r"|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"  # SendGrid
    r"|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}+"
    r"|hf_[A-Za-z0-9]{34,}+"  # Hugging Face
    r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"  # Shopify
    r"|dop_v1_[a-f0-9]{64}"  # DigitalOcean
    r"|hv[sb]\.[A-Za-z0-9_-]{24,}+"  # HashiCorp Vault
    r"|sq0(?:atp|csp)-[0-9A-Za-z_-]{22,}+"  # Square
    r"|ATATT3[A-Za-z0-9_=-]{40,}+"  # Atlassian
    r"|lin_api_[A-Za-z0-9]{40}"  # Linear
    r"|PMAK-[0-9a-f]{24}-[0-9a-f]{34}"  # Postman
    r"|sntry[su]_[A-Za-z0-9+/=_-]{40,}+"  # Sentry
    r"|dapi[0-9a-f]{32}(?:-[0-9])?+"  # Databricks
    r"|NRAK-[A-Z0-9]{27}"  # New Relic
    r")(?![A-Za-z0-9_-])"
    r"|(?:(?<=bot)|(?<![A-Za-z0-9_-]))(?P<bot>[0-9]{8,10}:AA[0-9A-Za-z_-]{33})(?![A-Za-z0-9_-])"  # Telegram
)
_VENDOR_NEEDLES: Final = (
    *("AIza", "GOCSPX-", "ya29.", "npm_", "gl", "sk-", "SG.", "pypi-", "hf_", "shp", "dop_v1_", "hvs.", "hvb."),
    *(":AA", "sq0", "ATATT3", "lin_api_", "PMAK-", "sntr", "dapi", "NRAK-"),
)
# Keyword patterns are written in lower case; see _Spec.folded.
_AUTH_HEADER = (
    r"authorization"
    + _SEP
    + r"""(?:\\?["'])?(?>(?:[A-Za-z][A-Za-z0-9-]{0,30}[ \t]++)?)"""  # the scheme stays readable
    + _NOT_PLACEHOLDER
    + r"""(?P<cred>[^\s"',;\\]++)"""
)
_BEARER = r"\bbearer[ \t]++" + _NOT_PLACEHOLDER + r"(?P<cred>[A-Za-z0-9._~+/-]{8,}+=*+)"
_BASIC = r"\bbasic[ \t]++(?P<cred>[A-Za-z0-9+/]{8,}+={0,2}+)(?![A-Za-z0-9+/=])"  # base64 of user:password
# "Bearer authentication_required" is prose; a credential has a digit, a symbol or inner capitals.
_CREDENTIAL_HINT = r"[0-9.~+/=]|.[A-Z]"
_AWS_KEY_ID = r"(?<![A-Za-z0-9])A[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])"
_AWS_SECRET_PAIR = r"secret_?access_?key" + _SEP + _VALUE
# A Cookie header's value is every cookie in it: it runs to the end of the line.
_COOKIE = (
    r"(?<![a-z0-9_-])(?:set-)?cookie" + _SEP + _NOT_PLACEHOLDER + _QUOTED + r"""|(?P<bare>[^\s"'\\][^\r\n"'\\]*+))"""
)
# The key is whatever identifier ends in one of these words (access_token, client_secret,
# x-api-key, SessionToken, DB_PASS, STRIPE_KEY); "tokens=", "password_reset=" and "token expired"
# do not match, and the word before a _key, a pass or a pw decides whether it names a secret. Every
# alternative starts with a literal character: the engine then skips ahead between candidates,
# which a leading character class or group would prevent (four times slower).
_SECRET_PAIR = (
    r"(?P<kw>pass(?:word|wd|phrase)?|pwd?|secret(?:[_-]?key)?|token|api[_-]?key|private[_-]?key|account[_-]?key"
    r"|shared[_-]?access[_-]?key|_keys?|\.keys?|-keys?|x-(?:amz|goog)-signature|cvv2?|cvc)" + _SEP + _VALUE
)
_XML_SECRET = (
    r"<[a-z0-9_.:-]{0,40}?(?:password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key)>"
    + _NOT_PLACEHOLDER
    + r"(?P<cred>[^<\n]{1,4096}+)</"
)
_ARGV_FLAG = (
    r"--(?<![\w-]--)(?P<flag>[a-z0-9][a-z0-9_-]{0,60}+)[ \t]++"
    + _NOT_PLACEHOLDER
    + r"""(?:"(?P<dq>[^"\n]{1,512}+)"|'(?P<sq>[^'\n]{1,512}+)'|(?P<bare>[^\s"';|&-][^\s"';|&]{0,511}+))"""
)


def _after_tool(tool: str, flag: str) -> str:
    """A tool's name, then up to 12 other arguments, then `flag`: the secret follows."""
    return rf"(?<![\w.-])(?:{tool})(?![\w-])(?:[ \t]++(?!{flag})\S{{1,200}}+){{0,12}}+[ \t]++"


_TOOL_SECRET = (
    r"(?:"
    + _after_tool("sshpass", "-p")
    + r"-p[ \t]*+"
    + r"|"
    + _after_tool("mysql|mysqldump|mysqladmin|mariadb|mariadb-dump", "-p")
    + r"-p"  # attached only: "mysql -p name" prompts for the password of database "name"
    + r"|"
    + _after_tool("redis-cli", "-a")
    + r"-a[ \t]*+"
    + r"|"
    + _after_tool("mongo|mongosh", "-p")
    + r"-p[ \t]++"
    + r""")(?P<cred>[^\s"';|&]++)|"""
    + _after_tool("curl", r"-u|--user[ \t=]")
    + r"""(?:-u[ \t]*+|--user(?:[ \t]++|=))["']?[^\s:"']{0,128}+:(?P<cred2>[^\s"';|&]++)"""
)
_URL_PASSWORD = r"://[^\s/:@?#]{0,256}+:" + _NOT_PLACEHOLDER + r"(?P<cred>[^\s/@?#]{1,256}+)@"
# The local part may be URL-encoded (jane%2Bx%40example.com) with %40 for the @.
_EMAIL = (
    r"(?<![\w.%+-])(?:[\w.+-]|%(?!40)[0-9A-Fa-f]{2}){1,64}+(?:@|%40)"
    r"(?P<domain>(?:[\w-]{1,63}\.){1,8}[^\W\d_]{2,63})(?![\w-])"
)
_RETINA_ASSET = r"[0-9]{1,2}x\.[A-Za-z]{2,5}"  # icon@2x.png is a file name
# The patterns below run on most texts, so each starts with a character class and checks its left
# context right after it: a leading look-behind would make the engine try the whole pattern at every
# position instead of skipping ahead to the next candidate character.
_IBAN = (
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}"
    r"(?:[A-Z0-9]{11,30}+|(?: [A-Z0-9]{4}){2,7}+(?: [A-Z0-9]{1,3})?+)(?![A-Za-z0-9])"
)
# A US SSN (AAA-GG-SSSS) and a Korean RRN (YYMMDD-NNNNNNN) start alike, so one scan finds both.
_NATIONAL_ID = r"[0-9](?<![\w.+-][0-9])[0-9]{2}(?:(?P<ssn>-[0-9]{2}-[0-9]{4})|[0-9]{3}-[1-8][0-9]{6})(?![\w-]|\.[0-9])"
_US_SSN_NAMED = (
    r"(?<![a-z0-9])ssn(?:[ \t]*+(?:#|no\.?|number))?[\"']?[ \t]*+[:=#]?[ \t]*+[\"']?"
    r"(?P<cred>[0-9]{3}[ -]?[0-9]{2}[ -]?[0-9]{4})(?![0-9])"
)
_KR_RRN_NAMED = (
    r"(?:주민(?:등록)?번호|(?<![a-z0-9])(?:rrn|jumin)(?![a-z]))[^0-9\n]{0,16}+"
    r"(?P<cred>[0-9]{6}-?[1-8][0-9]{6})(?![0-9])"
)
# Issuer digits 2-6 (Mastercard, Amex/Diners/JCB, Visa, Mastercard/Maestro, Discover/UnionPay)
# keep epoch milli/micro/nanoseconds (which start with 1 until 2033) out; Luhn does the rest. Groups
# share one separator; the last may be short (Diners' 3622 7206 2716 67).
_CARD = (
    r"[2-6](?<![0-9A-Za-z.][2-6])[0-9]{3}"
    r"(?:[0-9]{9,15}+|(?P<sep>[ .-])[0-9]{3,6}(?:(?P=sep)[0-9]{3,6}){0,2}(?P=sep)[0-9]{2,6})(?![0-9A-Za-z])"
)
_PHONE = (
    r"(?<![\w+.-])(?:\+[1-9][0-9]{0,2}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,4})){2,6}+"
    r"|(?:\([0-9]{2,4}\)[ -]?|[0-9]{2,4}[ -])[0-9]{3,4}[ -][0-9]{4})(?![\w.-])"
)
_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = r"(?<![\w.])(?:" + _IPV4_OCTET + r"\.){3}" + _IPV4_OCTET + r"(?![\w]|\.[0-9])"
_IPV6 = (
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}+(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f]{1,4})?+"
    r"(?![\w:]|\.[0-9A-Za-z])"
)

# Lengths of IBANs by country (the SWIFT IBAN registry).
_IBAN_LENGTHS: Final[Mapping[str, int]] = MappingProxyType(
    {
        country: int(length)
        for country, length in (
            entry.split(":")
            for entry in _word_set(
                "AD:24 AE:23 AL:28 AT:20 AZ:28 BA:20 BE:16 BG:22 BH:22 BI:27 BR:29 BY:28 CH:21 CR:22 CY:28 "
                "CZ:24 DE:22 DJ:27 DK:18 DO:28 EE:20 EG:29 ES:24 FI:18 FK:18 FO:18 FR:27 GB:22 GE:22 GI:23 "
                "GL:18 GR:27 GT:28 HN:28 HR:21 HU:28 IE:22 IL:23 IQ:23 IS:26 IT:27 JO:30 KW:30 KZ:20 LB:28 "
                "LC:32 LI:21 LT:20 LU:20 LV:21 LY:25 MC:27 MD:24 ME:22 MK:19 MN:20 MR:27 MT:31 MU:30 NI:28 "
                "NL:18 NO:15 OM:23 PK:24 PL:28 PS:29 QA:29 RO:24 RS:22 RU:33 SA:24 SC:31 SD:18 SE:24 SI:19 "
                "SK:24 SM:27 SO:23 ST:25 SV:28 TL:23 TN:24 TR:26 UA:29 VA:22 VG:24 XK:20 YE:30"
            )
        )
    }
)
_RRN_CENTURY: Final = {"1": 1900, "2": 1900, "3": 2000, "4": 2000, "5": 1900, "6": 1900, "7": 2000, "8": 2000}
_RRN_WEIGHTS: Final = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_RRN_UNCHECKED_FROM: Final = date(2020, 10, 1)  # numbers issued since carry no check digit


def _luhn_ok(digits: str) -> bool:
    total = 0
    double = False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if double:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        double = not double
    return total % 10 == 0


def _card_digits(text: str) -> str | None:
    digits = text.replace(" ", "").replace("-", "").replace(".", "")
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return digits
    return None


def _iban_ok(value: str) -> bool:
    compact = value.replace(" ", "")
    length = _IBAN_LENGTHS.get(compact[:2])
    # A grouped IBAN may run into a following group of four (an amount, a year): that is masked too.
    if length is None or len(compact) < length or (len(compact) > length and " " not in value):
        return False
    iban = compact[:length]
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _ssn_ok(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _rrn_ok(digits: str, named: bool) -> bool:
    """A plausible birth date and gender digit, and the check digit where the number has one."""
    century = _RRN_CENTURY[digits[6]]
    try:
        born = date(century + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return False
    if born > datetime.now(UTC).date():
        return False
    if born >= _RRN_UNCHECKED_FROM:
        return named
    total = sum(int(ch) * weight for ch, weight in zip(digits, _RRN_WEIGHTS, strict=False))
    check = int(digits[12])
    if (11 - total % 11) % 10 == check:
        return True
    return digits[6] in "5678" and (13 - total % 11) % 10 == check  # the foreigners' check digit


def _is_ipv6(candidate: str) -> bool:
    """Check the group count of a candidate whose characters the pattern already constrained."""
    if candidate.count("::") > 1 or not candidate.strip(":"):
        return False
    head, compressed, tail = candidate.partition("::")
    pieces = [*(head.split(":") if head else ()), *(tail.split(":") if tail else ())]
    groups = 0
    for i, piece in enumerate(pieces):
        if "." in piece:  # embedded IPv4, only as the last piece
            if i != len(pieces) - 1 or (compressed and not tail) or any(int(o) > 255 for o in piece.split(".")):
                return False
            groups += 2
        elif not piece:
            return False
        else:
            groups += 1
    return groups < 8 if compressed else groups == 8


def _key_words(key: str) -> list[str]:
    return [word.lower() for word in _KEY_WORD.findall(key)]


def _normalise_key(key: str) -> str:
    return _KEY_NOISE.sub("", key.lower())


def _normalise_entry(entry: str) -> str:
    """A sensitive key entry as it is matched: a glob keeps its stars and marks word breaks with _."""
    if "*" not in entry:
        return _normalise_key(entry)
    return "*".join(_KEY_NOISE.sub("_", piece.lower()) for piece in entry.split("*"))


def _glob_pattern(glob: str) -> str:
    """A sensitive-key glob as a regex over the words of a name joined by "_"."""
    pattern = re.escape(glob).replace(r"\*_", "(?:.*_)?").replace(r"_\*", "(?:_.*)?")
    return pattern.replace(r"\*", ".*")


def _names_secret_key(words: list[str]) -> bool:
    """Whether a name ending in key (STRIPE_KEY, signingKey) names a secret, not a cache or table key."""
    return len(words) >= 2 and words[-2] not in _NON_SECRET_KEY_WORDS


def _is_secret_flag(flag: str) -> bool:
    words = [word for word in re.split(r"[-_.]+", flag.lower()) if word]
    if not words:
        return False
    if words[-1] in _SECRET_FLAG_WORDS:
        return True
    return words[-1] in ("key", "keys") and _names_secret_key(words)


def _word_before(text: str, end: int) -> str:
    """The run of letters and digits that ends at `end` (at most 40 characters back), lower-cased."""
    start = end
    stop = max(0, end - 40)
    while start > stop and text[start - 1].isalnum():
        start -= 1
    return text[start:end].lower()


def _key_before(text: str, end: int) -> str:
    """The key whose value starts at `end` ("order_id=", '"order_id": "'), or ''."""
    i = end
    if i and text[i - 1] in "\"'":
        i -= 1
    while i and end - i < 4 and text[i - 1] in " \t":
        i -= 1
    if not i or text[i - 1] not in ":=":
        return ""
    i -= 1
    while i and end - i < 8 and text[i - 1] in " \t\"'":
        i -= 1
    stop, floor = i, max(0, i - 40)
    while i > floor and (text[i - 1].isalnum() or text[i - 1] in "_.-"):
        i -= 1
    return text[i:stop]


def _in_identifier(text: str, start: int) -> bool:
    """Whether a run of digits starting at `start` is part of an identifier rather than standing alone."""
    if not start:
        return False
    before = text[start - 1]
    if before == "#" or (before in "_-" and start >= 2 and text[start - 2].isalnum()):
        return True
    words = _key_words(_key_before(text, start))
    return bool(words) and words[-1] in _ID_WORDS


def _is_placeholder(value: str) -> bool:
    """A value that stands in for a secret: a mask, a reference, a template, or the path of a file."""
    return _PLACEHOLDER_VALUE.fullmatch(value) is not None or _PATH_VALUE.fullmatch(value) is not None


def _argv_value_ok(value: str) -> bool:
    """Whether the argument after a secret flag can be the secret (not a path, a reference or prose)."""
    if not value or value[0] == "-" or value.startswith("./") or _is_placeholder(value):
        return False
    return value.lower() not in _ARGV_STOPWORDS


class _ToolFlag(NamedTuple):
    flag: str
    separate: bool  # the secret may be the next argument
    attached: bool  # the secret may follow the flag in the same argument
    after_colon: bool = False  # the argument is user:secret


# The same tools and flags as _TOOL_SECRET, for argv-style lists.
_ARGV_TOOLS: Final[Mapping[str, _ToolFlag]] = MappingProxyType(
    {
        "sshpass": _ToolFlag("-p", separate=True, attached=True),
        **dict.fromkeys(
            ("mysql", "mysqldump", "mysqladmin", "mariadb", "mariadb-dump"),
            _ToolFlag("-p", separate=False, attached=True),
        ),
        "redis-cli": _ToolFlag("-a", separate=True, attached=True),
        **dict.fromkeys(("mongo", "mongosh"), _ToolFlag("-p", separate=True, attached=False)),
        "curl": _ToolFlag("-u", separate=True, attached=True, after_colon=True),
    }
)


def _argv_secrets(items: list[Any]) -> dict[int, int]:
    """In an argv-style list, the items that hold a secret, each with the offset where the secret starts."""
    found: dict[int, int] = {}
    tool: _ToolFlag | None = None
    pending: _ToolFlag | None = None  # the flag whose value the next item is
    for i, item in enumerate(items):
        if not isinstance(item, str):
            pending = None
            continue
        if pending is not None:
            offset = item.find(":") + 1 if pending.after_colon else 0
            if (offset or not pending.after_colon) and not item.startswith("-") and _argv_value_ok(item[offset:]):
                found[i] = offset
            pending = None
            continue
        name = item.rsplit("/", 1)[-1].lower()
        if name in _ARGV_TOOLS:
            tool = _ARGV_TOOLS[name]
            continue
        if item.startswith("--"):
            flag, equals, value = item[2:].partition("=")
            if tool is not None and tool.after_colon and flag.lower() == "user":
                if equals and ":" in value:
                    found[i] = item.index(":") + 1
                elif not equals:
                    pending = tool
            elif not equals and _is_secret_flag(flag):
                pending = _ToolFlag("", separate=True, attached=False)
            continue
        if tool is None or not item.startswith(tool.flag):
            continue
        if item == tool.flag:
            pending = tool if tool.separate else None
        elif tool.attached:
            offset = item.find(":", len(tool.flag)) + 1 if tool.after_colon else len(tool.flag)
            if offset:
                found[i] = offset
    return found


def _parse_action(variable: str, raw: str) -> Action:
    try:
        return Action(raw.strip().lower())
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        raise ValueError(f"{variable} must be one of {choices}; got {raw!r}") from None


def _parse_custom(raw: str | None) -> tuple[tuple[str, str], ...]:
    if raw is None or not raw.strip():
        return ()
    import json

    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{_ENV_CUSTOM} must be a JSON object of rule name to regex: {exc}") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ValueError(f"{_ENV_CUSTOM} must be a JSON object of rule name to regex string")
    rules = tuple(parsed.items())
    try:
        _validate_custom_rules(rules)
    except ValueError as exc:
        raise ValueError(f"{_ENV_CUSTOM}: {exc}") from None
    return rules


def _validate_custom_rules(rules: tuple[tuple[str, str], ...]) -> None:
    seen: set[str] = set()
    for name, pattern in rules:
        if _CUSTOM_NAME.fullmatch(name) is None:
            raise ValueError(f"custom rule name {name!r} must match {_CUSTOM_NAME.pattern}")
        if name in BUILTIN_RULES or name in _RESERVED_CUSTOM_NAMES or name in seen:
            raise ValueError(f"custom rule name {name!r} is already taken")
        seen.add(name)
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"custom rule {name!r} is not a valid regex: {exc}") from None
        if compiled.search("") is not None:
            raise ValueError(f"custom rule {name!r} matches the empty string")


@dataclass(frozen=True)
class RedactionSettings:
    """What to redact and how. ``rules`` may name only some rules; the rest take their defaults."""

    rules: Mapping[str, Action] = field(default_factory=lambda: DEFAULT_ACTIONS)
    hash_key: bytes = b""
    sensitive_keys: tuple[str, ...] = DEFAULT_SENSITIVE_KEYS
    custom_rules: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _validate_custom_rules(self.custom_rules)
        known = set(BUILTIN_RULES) | {name for name, _ in self.custom_rules}
        unknown = sorted(set(self.rules) - known)
        if unknown:
            raise ValueError(f"unknown redaction rules: {', '.join(unknown)}")
        merged: dict[str, Action] = dict(DEFAULT_ACTIONS)
        merged.update((name, Action.MASK) for name, _ in self.custom_rules)
        for name, action in self.rules.items():
            merged[name] = Action(action)
        object.__setattr__(self, "rules", MappingProxyType(merged))
        keys = tuple(dict.fromkeys(_normalise_entry(k) for k in self.sensitive_keys))
        if any(not _normalise_key(k) for k in keys):
            raise ValueError("sensitive key names need at least one letter or digit")
        object.__setattr__(self, "sensitive_keys", keys)
        if Action.HASH in merged.values() and len(self.hash_key) < MIN_HASH_KEY_BYTES:
            raise ValueError(f"the hash action needs a hash_key of at least {MIN_HASH_KEY_BYTES} bytes")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RedactionSettings:
        """Read LOGLENS_REDACT_* settings; a misspelt or invalid variable raises ValueError naming it."""
        custom = _parse_custom(environ.get(_ENV_CUSTOM))
        names = set(BUILTIN_RULES) | {name for name, _ in custom}
        rules: dict[str, Action] = {}
        for variable, raw in environ.items():
            if not variable.startswith(_ENV_PREFIX) or variable in (_ENV_HASH_KEY, _ENV_SENSITIVE_KEYS, _ENV_CUSTOM):
                continue
            name = variable[len(_ENV_PREFIX) :].lower()
            if name not in names:
                raise ValueError(f"{variable} is not a redaction setting; rules are {', '.join(sorted(names))}")
            rules[name] = _parse_action(variable, raw)

        hash_key = environ.get(_ENV_HASH_KEY, "").encode()
        if _ENV_HASH_KEY in environ and len(hash_key) < MIN_HASH_KEY_BYTES:
            raise ValueError(f"{_ENV_HASH_KEY} must be at least {MIN_HASH_KEY_BYTES} bytes")
        if Action.HASH in rules.values() and not hash_key:
            raise ValueError(f"{_ENV_HASH_KEY} is required when a rule uses the hash action")

        sensitive_keys = DEFAULT_SENSITIVE_KEYS
        raw_keys = environ.get(_ENV_SENSITIVE_KEYS)
        if raw_keys is not None:
            # "default" stands for the built-in list, so "default,ssn" extends it.
            entries = [entry.strip() for entry in raw_keys.split(",") if entry.strip()]
            expanded: list[str] = []
            for entry in entries:
                if entry.lower() == "default":
                    expanded.extend(DEFAULT_SENSITIVE_KEYS)
                elif _normalise_key(entry):
                    expanded.append(entry)
                else:
                    raise ValueError(f"{_ENV_SENSITIVE_KEYS} entry {entry!r} has no letter or digit")
            if not expanded:
                raise ValueError(
                    f"{_ENV_SENSITIVE_KEYS} is empty; set {_ENV_PREFIX}SENSITIVE_KEY=keep to turn the rule off"
                )
            sensitive_keys = tuple(expanded)
        return cls(rules=rules, hash_key=hash_key, sensitive_keys=sensitive_keys, custom_rules=custom)


Accept = Callable[[re.Match[str], str], bool]  # (match, matched value) -> redact it?

_DIGIT = re.compile(r"[0-9]")
_LONG_RUN = re.compile(r"[A-Za-z0-9+/_-]{20,}")
_NOT_HEX = re.compile(r"[^0-9A-Fa-f-]")
_ID_PREFIX = re.compile(r"[a-z]{1,8}[_-]")


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None


def _has_token_run(text: str) -> bool:
    """Whether a run of 20 token characters could be a vendor token, webhook path or base64 key: more
    than hex and dashes (a trace id, a UUID, a hash) once a lower-case prefix is set aside (sess_5d9d…,
    a prefixed id), or at least 32 hex after one (shpat_…). Asked once per text, it spares those rules'
    many needle tests on ordinary text."""
    for chunk in text.split():  # splitting on whitespace first is cheaper than scanning every word
        if len(chunk) >= 20:
            for run in _LONG_RUN.findall(chunk):
                prefix = _ID_PREFIX.match(run)
                body = run[prefix.end() :] if prefix else run
                if _NOT_HEX.search(body) is not None or (prefix is not None and len(body) >= 32):
                    return True
    return False


def _has_short_flag(text: str) -> bool:
    return " -" in text or "\t-" in text


_LETTER = re.compile(r"[A-Za-z]")
_LOWER = re.compile(r"[a-z]")
_UPPER = re.compile(r"[A-Z]")


def _looks_generated(text: str) -> bool:
    """Digits among letters, or mixed case: a generated token rather than a word or an identifier."""
    if _DIGIT.search(text) is not None:
        return _LETTER.search(text) is not None
    return _LOWER.search(text) is not None and _UPPER.search(text) is not None


def _accept_card(match: re.Match[str], value: str) -> bool:
    if _card_digits(value) is None:
        return False
    if match.group("sep") is not None:
        return True  # card-like groups are a card wherever they stand
    text, start = match.string, match.start()
    return not _in_identifier(text, start) or _CARD_WORD.search(text, max(0, start - 32), start) is not None


def _accept_email(match: re.Match[str], value: str) -> bool:
    text, start, end = match.string, match.start(), match.end()
    after = text[end : end + 2]
    if (after[:1] == ":" and after[1:].strip() and not after[1:].isdigit()) or text.endswith("ssh://", 0, start):
        return False  # git@github.com:org/repo.git and ssh://git@host are SSH targets, not mailboxes
    return re.fullmatch(_RETINA_ASSET, match.group("domain")) is None


def _email_form(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value).lower()


def _accept_bearer(match: re.Match[str], value: str) -> bool:
    return re.search(_CREDENTIAL_HINT, value) is not None


def _accept_phone(match: re.Match[str], value: str) -> bool:
    if not 7 <= sum(ch.isdigit() for ch in value) <= 15:
        return False
    if value[0] == "+":
        return True
    national = value.lstrip("(")
    area = national[: len(national) - len(national.lstrip("0123456789"))]
    return area[0] == "0" or (len(area) == 3 and area[0] != "1")


def _accept_ipv4(match: re.Match[str], value: str) -> bool:
    return value.split(".", 1)[0] not in ("0", "255")


def _accept_ipv6(match: re.Match[str], value: str) -> bool:
    return _is_ipv6(value)


def _accept_secret_value(match: re.Match[str], value: str) -> bool:
    return not _is_placeholder(value)


def _accept_secret_pair(match: re.Match[str], value: str) -> bool:
    if _is_placeholder(value):
        return False
    keyword = match.group("kw").lower()
    text, start = match.string, match.start()
    if start and text[start - 1] == ":":
        return False  # a segment of a colon path: arn:aws:secretsmanager:…:secret:prod
    if keyword == "token":
        before = start - 1 if start and text[start - 1] in "_-." else start
        return not _word_before(text, before).endswith(_CURSOR_WORDS)
    if keyword in ("pass", "pw"):  # DB_PASS, pass=…, but not bypass=, first_pass= or the count pass=3
        previous = text[start - 1] if start else ""
        if previous in ("_", ".", "-"):
            word = _word_before(text, start - 1)
            return bool(word) and word not in _NOT_A_PASS_WORDS
        return not previous.isalnum() and not (value.isdigit() and len(value) < 5)
    if keyword[0] not in "_.-":
        return True
    word = _word_before(text, start)
    return bool(word) and _names_secret_key([word, "key"])


def _accept_basic(match: re.Match[str], value: str) -> bool:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded and decoded.isascii() and decoded.decode().isprintable()


def _accept_argv_flag(match: re.Match[str], value: str) -> bool:
    return _is_secret_flag(match.group("flag")) and _argv_value_ok(value)


def _accept_token(match: re.Match[str], value: str) -> bool:
    return _looks_generated(match.group("body") or match.group("bot"))


def _accept_stripe(match: re.Match[str], value: str) -> bool:
    return _looks_generated(match.group("body") or match.group("wh"))


def _accept_pem_base64(match: re.Match[str], value: str) -> bool:
    head = value[:60]
    try:
        decoded = base64.b64decode(head[: len(head) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded


def _accept_iban(match: re.Match[str], value: str) -> bool:
    return _iban_ok(value)


def _accept_ssn(match: re.Match[str], value: str) -> bool:
    return _ssn_ok(_digits_only(value))


def _accept_national_id(match: re.Match[str], value: str) -> bool:
    digits = _digits_only(value)
    return _ssn_ok(digits) if match.start("ssn") >= 0 else _rrn_ok(digits, named=False)


def _accept_named_rrn(match: re.Match[str], value: str) -> bool:
    return _rrn_ok(_digits_only(value), named=True)


def _digits_only(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _iban_form(value: str) -> str:
    return value.replace(" ", "").upper()


class _Spec(NamedTuple):
    """One pattern of a rule, as source; a Redactor compiles only the specs of rules it applies."""

    rule: str
    source: str
    # The pattern runs only if one of these occurs in the text (in the lower-cased text if folded),
    # the text is at least min_len long, meets the requirement (a digit, a token-like run, a short
    # flag) and, for a pattern without needles, the gate agrees.
    needles: tuple[str, ...] = ()
    gate: Callable[[str], bool] | None = None
    min_len: int = 1
    requires: Callable[[str], bool] | None = None  # asked once per text, shared by the specs that need it
    upper: bool = False  # needs a capital letter: the text differs from its lower-cased copy
    # Folded patterns are written in lower case and run on the lower-cased text: a case-insensitive
    # alternation costs several times more per position. When lower-casing changed the text's length
    # (so spans would not line up), an IGNORECASE compilation runs on the text itself.
    folded: bool = False
    value_groups: tuple[str, ...] = ()  # the first one that matched is redacted; none: the whole match
    alt: tuple[str, str] | None = None  # (group, rule): a match in which the group took part counts as that rule
    accept: Accept | None = None
    hash_form: Callable[[str], str] | None = None  # canonical form fed to the keyed hash


# In the order they run: a value taken by an earlier pattern is a placeholder to the later ones, so
# the most specific run first (a GitHub token after "token=" counts as a GitHub token). The shortest
# text each pattern can match is its min_len, so short values skip most of them.
_BUILTIN_SPECS: Final[tuple[_Spec, ...]] = (
    _Spec("private_key", _PEM_PRIVATE_KEY, ("PRIVATE KEY",), min_len=27),
    _Spec("jwt", _JWT, ("eyJ",), min_len=8),
    _Spec(
        "private_key", _PEM_BASE64, ("LS0tLS1CRUdJTi",), min_len=46, requires=_has_token_run, accept=_accept_pem_base64
    ),
    _Spec(
        "webhook_url",
        _WEBHOOK_URL,
        ("hooks.slack.com", "/api/webhooks/", ".webhook.office.com"),
        min_len=30,
        requires=_has_token_run,
        folded=True,
        value_groups=("cred",),
    ),
    _Spec("slack_token", _SLACK_XOX, ("xox", "xapp-"), min_len=12, requires=_has_token_run, accept=_accept_token),
    _Spec(
        "stripe_key",
        _STRIPE_KEY,
        ("k_live_", "k_test_", "whsec_"),
        min_len=18,
        requires=_has_token_run,
        accept=_accept_stripe,
    ),
    _Spec(
        "github_token",
        _GITHUB_GH,
        ("gh", "github_pat_"),
        min_len=34,
        requires=_has_token_run,
        accept=_accept_token,
    ),
    _Spec(
        "api_token",
        _VENDOR_PREFIXED,
        _VENDOR_NEEDLES,
        min_len=25,
        requires=_has_token_run,
        accept=_accept_token,
    ),
    _Spec("bearer", _AUTH_HEADER, ("authorization",), min_len=15, folded=True, value_groups=("cred",)),
    _Spec("bearer", _BEARER, ("bearer",), min_len=15, folded=True, value_groups=("cred",), accept=_accept_bearer),
    _Spec("bearer", _BASIC, ("basic",), min_len=14, folded=True, value_groups=("cred",), accept=_accept_basic),
    _Spec("aws_access_key", _AWS_KEY_ID, ("KIA", "SIA"), min_len=20),
    _Spec("aws_access_key", _AWS_SECRET_PAIR, ("access",), min_len=19, folded=True, value_groups=_VALUE_GROUPS),
    _Spec(
        "secret_pair",
        _COOKIE,
        ("cookie",),
        min_len=8,
        folded=True,
        value_groups=_VALUE_GROUPS,
        accept=_accept_secret_value,
    ),
    _Spec(
        "secret_pair",
        _TOOL_SECRET,
        ("sshpass", "mysql", "mariadb", "redis-cli", "mongo", "curl"),
        min_len=9,
        requires=_has_short_flag,
        value_groups=("cred", "cred2"),
        accept=_accept_secret_value,
    ),
    _Spec(
        "secret_pair",
        _ARGV_FLAG,
        ("--",),
        min_len=6,
        folded=True,
        value_groups=("dq", "sq", "bare"),
        accept=_accept_argv_flag,
    ),
    _Spec(
        "secret_pair",
        _XML_SECRET,
        ("</",),
        min_len=14,
        folded=True,
        value_groups=("cred",),
        accept=_accept_secret_value,
    ),
    _Spec(
        "secret_pair",
        _SECRET_PAIR,
        ("pass", "pw", "secret", "token", "key", "signature", "cv"),
        min_len=5,
        folded=True,
        value_groups=_VALUE_GROUPS,
        accept=_accept_secret_pair,
    ),
    _Spec("secret_pair", _URL_PASSWORD, ("://",), min_len=6, value_groups=("cred",)),
    _Spec("email", _EMAIL, ("@", "%40"), min_len=6, accept=_accept_email, hash_form=_email_form),
    _Spec(
        "iban",
        _IBAN,
        min_len=15,
        requires=_has_digit,
        upper=True,
        accept=_accept_iban,
        hash_form=_iban_form,
    ),
    _Spec(
        "kr_rrn",
        _NATIONAL_ID,
        ("-",),
        min_len=11,
        requires=_has_digit,
        alt=("ssn", "us_ssn"),
        accept=_accept_national_id,
        hash_form=_digits_only,
    ),
    _Spec(
        "us_ssn",
        _US_SSN_NAMED,
        ("ssn",),
        min_len=12,
        requires=_has_digit,
        folded=True,
        value_groups=("cred",),
        accept=_accept_ssn,
        hash_form=_digits_only,
    ),
    _Spec(
        "kr_rrn",
        _KR_RRN_NAMED,
        ("주민", "rrn", "jumin"),
        min_len=15,
        requires=_has_digit,
        folded=True,
        value_groups=("cred",),
        accept=_accept_named_rrn,
        hash_form=_digits_only,
    ),
    _Spec("card", _CARD, min_len=13, requires=_has_digit, accept=_accept_card, hash_form=_digits_only),
    _Spec("phone", _PHONE, min_len=7, requires=_has_digit, accept=_accept_phone, hash_form=_digits_only),
    _Spec(
        "ipv6",
        _IPV6,
        gate=lambda text: text.count(":") >= 2,
        min_len=3,
        accept=_accept_ipv6,
        hash_form=str.lower,
    ),
    _Spec("ipv4", _IPV4, gate=lambda text: text.count(".") >= 3, min_len=7, requires=_has_digit, accept=_accept_ipv4),
)


class _Matcher(NamedTuple):
    spec: _Spec
    action: Action
    alt_action: Action  # for matches that count as spec.alt's rule
    pattern: re.Pattern[str]
    folded: re.Pattern[str] | None  # the IGNORECASE twin of a folded pattern


# A matcher's gates as the hot loop unpacks them: min_len, upper, needles, folded, gate, the matcher.
_Gates = tuple[int, bool, tuple[str, ...], bool, Callable[[str], bool] | None, _Matcher]


_ID_FIELDS: Final = frozenset(name for name in TEXT_FIELDS if name.endswith("_id"))
_CACHE_LIMIT: Final = 8192
_CACHEABLE_LEN: Final = 256
# What a metadata key says about its value.
_SENSITIVE: Final = 1  # the value is a secret, whatever it looks like
_NUMBERED: Final = 2  # a number under it is an identifier or a quantity (order_id, bytes), not a card


class Redactor:
    """Applies RedactionSettings to text and records. Build once per process and reuse it."""

    def __init__(self, settings: RedactionSettings) -> None:
        self._settings = settings
        actions = settings.rules
        self._mac = hmac.new(settings.hash_key, digestmod=hashlib.sha256) if settings.hash_key else None
        self._sensitive_action = actions["sensitive_key"]
        self._check_keys = self._sensitive_action is not Action.KEEP
        self._key_words = tuple(k for k in settings.sensitive_keys if "*" not in k)
        globs = [k for k in settings.sensitive_keys if "*" in k]
        self._key_globs = re.compile("|".join(map(_glob_pattern, globs))) if globs else None
        self._argv_action = actions["secret_pair"]
        # Metadata keys repeat from record to record: a clean key maps to what it says about its value.
        self._clean_keys: dict[Any, int] = {}
        self._label_kinds: dict[str, int] = {}
        # Short strings seen clean before are clean again; logs repeat their keys and values a lot.
        self._clean: set[str] = set()
        # Custom rules run first: what a deployment names itself counts under its own name.
        custom = []
        for name, source in settings.custom_rules:
            groups = ("value",) if "value" in re.compile(source).groupindex else ()
            custom.append(_Spec(name, source, value_groups=groups))
        self._matchers = tuple(
            _Matcher(
                spec,
                actions[spec.rule],
                actions[spec.alt[1]] if spec.alt else Action.KEEP,
                re.compile(spec.source),
                re.compile(spec.source, re.IGNORECASE) if spec.folded else None,
            )
            for spec in (*custom, *_BUILTIN_SPECS)
            if actions[spec.rule] is not Action.KEEP or (spec.alt and actions[spec.alt[1]] is not Action.KEEP)
        )
        # The gates of each matcher, unpacked in the hot loop (a tuple is faster to read than attributes),
        # in runs that share one requirement: a text without it skips the whole run at once.
        plan: list[tuple[Callable[[str], bool] | None, list[_Gates]]] = []
        for m in self._matchers:
            gates = (m.spec.min_len, m.spec.upper, m.spec.needles, m.spec.folded, m.spec.gate, m)
            if plan and plan[-1][0] is m.spec.requires:
                plan[-1][1].append(gates)
            else:
                plan.append((m.spec.requires, [gates]))
        self._plan = tuple((requires, tuple(run)) for requires, run in plan)

    def redact_text(self, text: str, counts: Counter[str]) -> str:
        """Return ``text`` with every match replaced; add one to ``counts[rule]`` per replaced value."""
        short = len(text) <= _CACHEABLE_LEN
        if short and text in self._clean:
            return text
        out = text
        low = text.lower()
        size = len(text)
        found: dict[Callable[[str], bool], bool] = {}
        for requires, run in self._plan:
            if requires is not None:
                present = found.get(requires)
                if present is None:
                    present = found[requires] = requires(text)
                if not present:
                    continue
            for min_len, upper, needles, on_lower, gate, matcher in run:
                if size < min_len or (upper and out == low):
                    continue
                if needles:
                    haystack = low if on_lower else out
                    for needle in needles:
                        if needle in haystack:
                            break
                    else:
                        continue
                elif gate is not None and not gate(out):
                    continue
                redacted = self._apply(matcher, out, low, counts)
                if redacted is not out:
                    out = redacted
                    low = out.lower()
                    size = len(out)
        if short and out is text:
            if len(self._clean) >= _CACHE_LIMIT:
                self._clean.clear()
            self._clean.add(text)
        return out

    def _apply(self, matcher: _Matcher, text: str, low: str, counts: Counter[str]) -> str:
        spec = matcher.spec
        if matcher.folded is None:
            matches = matcher.pattern.finditer(text)
        elif len(low) == len(text):  # every character lower-cased to exactly one, so spans line up
            matches = matcher.pattern.finditer(low)
        else:
            matches = matcher.folded.finditer(text)
        pieces: list[str] = []
        last = 0
        for match in matches:
            group: int | str = 0
            for name in spec.value_groups:
                if match.start(name) >= 0:
                    group = name
                    break
            rule, action = spec.rule, matcher.action
            if spec.alt is not None and match.start(spec.alt[0]) >= 0:
                rule, action = spec.alt[1], matcher.alt_action
            start, end = match.span(group)
            value = text[start:end]
            if (
                action is Action.KEEP
                or start == end
                or value.startswith(_PLACEHOLDER_PREFIXES)
                or (spec.accept is not None and not spec.accept(match, value))
            ):
                continue
            pieces.append(text[last:start])
            pieces.append(self._replacement(rule, action, value, spec.hash_form))
            last = end
            counts[rule] += 1
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def _replacement(self, rule: str, action: Action, value: str, hash_form: Callable[[str], str] | None) -> str:
        if action is Action.HASH:
            return f"[HASH:{rule}:{self._digest(hash_form(value) if hash_form else value)}]"
        return f"[REDACTED:{rule}]"

    def _digest(self, value: str) -> str:
        assert self._mac is not None  # RedactionSettings refuses the hash action without a key
        mac = self._mac.copy()
        mac.update(value.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:HASH_HEX_CHARS]

    def redact_record(self, record: dict[str, Any]) -> Counter[str]:
        """Redact the record's text fields and metadata in place; return how many values each rule replaced."""
        counts: Counter[str] = Counter()
        clean = self._clean  # checked here too: most values were seen clean, and a call costs more
        for name in TEXT_FIELDS:
            value = record.get(name)
            if type(value) is not str or not value or value in clean:
                continue
            if name in _ID_FIELDS and value.isascii() and value.isdigit():
                continue  # a numeric user or session id is that id, not a card number
            redacted = self.redact_text(value, counts)
            if redacted is not value:
                record[name] = redacted
        metadata = record.get("metadata")
        if isinstance(metadata, str):
            record["metadata"] = self.redact_text(metadata, counts)
        elif isinstance(metadata, dict | list):
            self._redact_tree(metadata, counts)
        return counts

    def _kind(self, key: str) -> int:
        """What a key name says about its value: _SENSITIVE, _NUMBERED, both or neither."""
        words = _key_words(key)
        if not words:
            return 0
        kind = 0
        if words[-1] in _NUMBER_WORDS and _CARD_WORD.search(key) is None:
            kind |= _NUMBERED
        if not self._check_keys or words[-1] in _DESCRIPTOR_WORDS:
            return kind
        if words[-1] in ("token", "tokens") and len(words) > 1 and words[-2] in _CURSOR_WORDS:
            return kind
        joined = "".join(word for word in words if word not in _NOT_SECRET_WORDS)
        if any(word in joined for word in self._key_words):
            return kind | _SENSITIVE
        named = self._key_globs is not None and self._key_globs.fullmatch("_".join(words)) is not None
        if named and (words[-1] not in ("key", "keys") or _names_secret_key(words)):
            return kind | _SENSITIVE
        return kind

    def _label_kind(self, label: str) -> int:
        kind = self._label_kinds.get(label)
        if kind is None:
            if len(self._label_kinds) >= _CACHE_LIMIT:
                self._label_kinds.clear()
            kind = self._label_kinds[label] = self._kind(label)
        return kind

    def _key(self, key: Any, counts: Counter[str]) -> tuple[Any, int]:
        """Return the key redacted as text, and what it says about its value."""
        if not isinstance(key, str):
            return key, 0
        kind = self._kind(key)
        redacted = self.redact_text(key, counts)
        if redacted is key:
            if len(self._clean_keys) >= _CACHE_LIMIT:
                self._clean_keys.clear()
            self._clean_keys[key] = kind
        return redacted, kind

    def _redact_value(self, value: Any, counts: Counter[str], pending: list[Any]) -> Any:
        """Redact a scalar or queue a container; return the value to store."""
        if isinstance(value, str):
            return self.redact_text(value, counts) if value else value
        if isinstance(value, dict | list):
            pending.append(value)
        elif type(value) is int and value >= 10**12:
            # A card number sent as a JSON number is still a card number.
            text = str(value)
            redacted = self.redact_text(text, counts)
            if redacted != text:
                return redacted
        return value

    def _redact_sensitive(self, value: Any, counts: Counter[str]) -> Any:
        if value is None or isinstance(value, bool) or value in ("", {}, []):
            return value
        if isinstance(value, str) and (_is_placeholder(value) or value.startswith(_PLACEHOLDER_PREFIXES)):
            return value  # nothing secret, or redacted already
        counts["sensitive_key"] += 1
        if self._sensitive_action is Action.HASH:
            import json

            try:
                canonical = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
            except (TypeError, ValueError):  # keys json cannot sort, or a reference cycle
                canonical = repr(value)
            return f"[HASH:sensitive_key:{self._digest(canonical)}]"
        return "[REDACTED:sensitive_key]"

    def _redact_argv(self, node: list[Any], counts: Counter[str]) -> None:
        """Mask the values of secret flags in an argv-style list (["--password", "x"])."""
        for i, offset in _argv_secrets(node).items():
            item = node[i]
            if item[offset:].startswith(_PLACEHOLDER_PREFIXES):
                continue
            node[i] = item[:offset] + self._replacement("secret_pair", self._argv_action, item[offset:], None)
            counts["secret_pair"] += 1

    def _redact_tree(self, root: dict[str, Any] | list[Any], counts: Counter[str]) -> None:
        # Iterative so that deeply nested metadata cannot exhaust the interpreter's stack.
        pending: list[Any] = [root]
        while pending:
            node = pending.pop()
            if isinstance(node, list):
                if self._argv_action is not Action.KEEP and any(type(x) is str and x[:1] == "-" for x in node):
                    self._redact_argv(node, counts)
                for i, item in enumerate(node):
                    new = self._redact_value(item, counts, pending)
                    if new is not item:
                        node[i] = new
                continue
            renamed: list[tuple[Any, Any]] | None = None
            # OpenTelemetry-style attributes: {"key": "authorization", "value": ...}.
            pair_sensitive = False
            if "value" in node and self._check_keys:
                label = node.get("key", node.get("name"))
                pair_sensitive = isinstance(label, str) and bool(self._label_kind(label) & _SENSITIVE)
            clean_keys = self._clean_keys
            clean = self._clean
            for i, (key, value) in enumerate(node.items()):
                kind = clean_keys.get(key)
                if kind is None:
                    new_key, kind = self._key(key, counts)
                else:
                    new_key = key
                if kind & _SENSITIVE or (pair_sensitive and key == "value"):
                    new = self._redact_sensitive(value, counts)
                elif kind & _NUMBERED and (
                    type(value) is int or (type(value) is str and value.isascii() and value.isdigit())
                ):
                    new = value  # the id or quantity it names, not a card number
                elif type(value) is str:
                    new = value if not value or value in clean else self.redact_text(value, counts)
                else:
                    new = self._redact_value(value, counts, pending)
                if new is not value:
                    node[key] = new
                if new_key is not key and renamed is None:
                    renamed = list(node.items())[:i]
                if renamed is not None:
                    renamed.append((new_key, new))
            if renamed is not None:
                node.clear()
                for key, value in renamed:
                    unique, n = key, 1
                    while unique in node:  # two keys redacted to the same text keep both values
                        n += 1
                        unique = f"{key}#{n}"
                    node[unique] = value
