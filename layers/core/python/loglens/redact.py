"""Redact PII and secrets from a log record before it is stored or forwarded.

Every pattern runs in linear time on hostile input: repetitions are bounded or possessive, and a
left-context look-behind stops a pattern from being retried inside a run it already rejected. A rule
is skipped outright unless a substring test says it could match, so a clean message costs a few
``in`` tests and one scan for card-like digits; short strings already seen clean cost a set lookup.
Redaction never logs, and counts never carry values.

Look-alike policy: UUIDs, trace/span ids, timestamps, epoch numbers, durations, paths and versions
survive. Four dotted octets each at most 255 are an IPv4 address even when meant as a version
(``1.2.3.4``); ``v1.2.3.4`` and three-part versions are not. A 13-19 digit number is a card only if
it starts with 2-6 and passes Luhn, so most order ids survive and epoch times always do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    "ipv4",
    "ipv6",
    "phone",
)

DEFAULT_ACTIONS: Final[Mapping[str, Action]] = MappingProxyType(
    {
        "email": Action.MASK,
        "card": Action.MASK,
        "jwt": Action.MASK,
        "bearer": Action.MASK,
        "aws_access_key": Action.MASK,
        "secret_pair": Action.MASK,
        "sensitive_key": Action.MASK,
        "ipv4": Action.KEEP,
        "ipv6": Action.KEEP,
        "phone": Action.KEEP,
    }
)

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

# A value already replaced by this module is never redacted again, so redaction is idempotent.
_NOT_PLACEHOLDER = r"(?!\[(?:REDACTED|HASH|redacted|hash):)"
# Separator of key=value, key: value, "key": "value", 'key': 'value', "key"=>"value" and
# JSON-inside-JSON \"key\": \"value\" forms (the optional quote closes a quoted key).
_SEP = r"""(?:\\?["'])?[ \t]{0,8}+(?:=>|[:=])[ \t]{0,8}+"""
# A quoted value runs to its closing quote or, when a log line was truncated, to the end of the
# line. A bare value stops at whitespace, quotes, '&' and at ,;)]} that end it (one followed by
# another delimiter or by the end): "User(password=hunter2)" keeps its ')' while "pa)ss" is whole.
_VALUE = (
    _NOT_PLACEHOLDER
    + r"""(?:"(?P<dq>(?:[^"\\\n]|\\.?)*+)"?"""
    + r"""|'(?P<sq>(?:[^'\\\n]|\\.?)*+)'?"""
    + r"""|\\"(?P<eq>(?:[^\\\n]|\\[^"\n])*+)(?:\\")?"""
    + r"""|(?P<bare>(?:[^\s"'&,;)\]}]|[,;)\]}](?=[^\s"'&,;)\]}]))++))"""
)
_VALUE_GROUPS: Final = ("dq", "sq", "eq", "bare")

_JWT = (
    r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+"
    r"(?:\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++)?+"  # the two extra segments of an encrypted JWT
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
# "Bearer authentication_required" is prose; a credential has a digit, a symbol or inner capitals.
_CREDENTIAL_HINT = r"[0-9.~+/=]|.[A-Z]"
_AWS_KEY_ID = r"(?<![A-Za-z0-9])A[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])"
_AWS_SECRET_PAIR = r"secret_?access_?key" + _SEP + _VALUE
# The key is whatever identifier ends in one of these words (access_token, client_secret,
# x-api-key, SessionToken); "tokens=", "password_reset=" and "token expired" do not match.
_SECRET_PAIR = r"(?:pass(?:word|wd|phrase)|pwd|secret(?:[_-]?key)?|token|api[_-]?key|private[_-]?key)" + _SEP + _VALUE
_URL_PASSWORD = r"(?<=://)[^\s/:@?#]{0,256}+:" + _NOT_PLACEHOLDER + r"(?P<cred>[^\s/@?#]{1,256}+)@"
_EMAIL = r"(?<![\w.%+-])[\w.%+-]{1,64}+@(?P<domain>(?:[\w-]{1,63}\.){1,8}[^\W\d_]{2,63})(?![\w-])"
_RETINA_ASSET = r"[0-9]{1,2}x\.[A-Za-z]{2,5}"  # icon@2x.png is a file name
# Issuer digits 2-6 (Mastercard, Amex/Diners/JCB, Visa, Mastercard/Maestro, Discover/UnionPay)
# keep epoch milli/micro/nanoseconds (which start with 1 until 2033) out; Luhn does the rest.
_CARD = r"[2-6](?<![0-9A-Za-z.][2-6])[0-9]{3}(?:[0-9]{9,15}+|(?:[ -][0-9]{3,6}){2,4}+)(?![0-9A-Za-z])"
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
    digits = text.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return digits
    return None


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


def _normalise_key(key: str) -> str:
    return _KEY_NOISE.sub("", key.lower())


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
        keys = tuple(dict.fromkeys(_normalise_key(k) for k in self.sensitive_keys))
        if "" in keys:
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


def _accept_card(match: re.Match[str], value: str) -> bool:
    return _card_digits(value) is not None


def _accept_email(match: re.Match[str], value: str) -> bool:
    return re.fullmatch(_RETINA_ASSET, match.group("domain")) is None


def _accept_bearer(match: re.Match[str], value: str) -> bool:
    return re.search(_CREDENTIAL_HINT, value) is not None


def _accept_phone(match: re.Match[str], value: str) -> bool:
    return 7 <= sum(ch.isdigit() for ch in value) <= 15


def _accept_ipv6(match: re.Match[str], value: str) -> bool:
    return _is_ipv6(value)


def _digits_only(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


class _Spec(NamedTuple):
    """One pattern of a rule, as source; a Redactor compiles only the specs of rules it applies."""

    rule: str
    source: str
    # The pattern runs only if one of these occurs in the text (in the lower-cased text if folded).
    needles: tuple[str, ...] = ()
    gate: Callable[[str], bool] | None = None
    # Folded patterns are written in lower case and run on the lower-cased text: a case-insensitive
    # alternation costs several times more per position. When lower-casing changed the text's length
    # (so spans would not line up), an IGNORECASE compilation runs on the text itself.
    folded: bool = False
    value_groups: tuple[str, ...] = ()  # the first one that matched is redacted; none: the whole match
    accept: Accept | None = None
    hash_form: Callable[[str], str] | None = None  # canonical form fed to the keyed hash


# In the order they run: a value taken by an earlier pattern is a placeholder to the later ones.
_BUILTIN_SPECS: Final[tuple[_Spec, ...]] = (
    _Spec("jwt", _JWT, ("eyJ",)),
    _Spec("bearer", _AUTH_HEADER, ("authorization",), folded=True, value_groups=("cred",)),
    _Spec("bearer", _BEARER, ("bearer",), folded=True, value_groups=("cred",), accept=_accept_bearer),
    _Spec("aws_access_key", _AWS_KEY_ID, ("KIA", "SIA")),
    _Spec("aws_access_key", _AWS_SECRET_PAIR, ("access",), folded=True, value_groups=_VALUE_GROUPS),
    _Spec(
        "secret_pair",
        _SECRET_PAIR,
        ("pass", "pwd", "secret", "token", "key"),
        folded=True,
        value_groups=_VALUE_GROUPS,
    ),
    _Spec("secret_pair", _URL_PASSWORD, ("://",), value_groups=("cred",)),
    _Spec("email", _EMAIL, ("@",), accept=_accept_email, hash_form=str.lower),
    _Spec("card", _CARD, accept=_accept_card, hash_form=_digits_only),
    _Spec("phone", _PHONE, accept=_accept_phone, hash_form=_digits_only),
    _Spec("ipv6", _IPV6, gate=lambda text: text.count(":") >= 2, accept=_accept_ipv6, hash_form=str.lower),
    _Spec("ipv4", _IPV4, gate=lambda text: text.count(".") >= 3),
)


class _Matcher(NamedTuple):
    spec: _Spec
    action: Action
    pattern: re.Pattern[str]
    folded: re.Pattern[str] | None  # the IGNORECASE twin of a folded pattern


_CACHE_LIMIT: Final = 8192
_CACHEABLE_LEN: Final = 256


class Redactor:
    """Applies RedactionSettings to text and records. Build once per process and reuse it."""

    def __init__(self, settings: RedactionSettings) -> None:
        self._settings = settings
        actions = settings.rules
        self._mac = hmac.new(settings.hash_key, digestmod=hashlib.sha256) if settings.hash_key else None
        self._sensitive_action = actions["sensitive_key"]
        self._sensitive_keys = settings.sensitive_keys
        self._check_keys = self._sensitive_action is not Action.KEEP
        # Metadata keys repeat from record to record: a clean key maps to whether its value is sensitive.
        self._clean_keys: dict[Any, bool] = {}
        # Short strings seen clean before are clean again; logs repeat their keys and values a lot.
        self._clean: set[str] = set()
        custom = []
        for name, source in settings.custom_rules:
            groups = ("value",) if "value" in re.compile(source).groupindex else ()
            custom.append(_Spec(name, source, value_groups=groups))
        self._matchers = tuple(
            _Matcher(
                spec,
                actions[spec.rule],
                re.compile(spec.source),
                re.compile(spec.source, re.IGNORECASE) if spec.folded else None,
            )
            for spec in (*_BUILTIN_SPECS, *custom)
            if actions[spec.rule] is not Action.KEEP
        )

    def redact_text(self, text: str, counts: Counter[str]) -> str:
        """Return ``text`` with every match replaced; add one to ``counts[rule]`` per replaced value."""
        short = len(text) <= _CACHEABLE_LEN
        if short and text in self._clean:
            return text
        out = text
        low = text.lower()
        for matcher in self._matchers:
            spec = matcher.spec
            if spec.needles:
                haystack = low if spec.folded else out
                for needle in spec.needles:
                    if needle in haystack:
                        break
                else:
                    continue
            elif spec.gate is not None and not spec.gate(out):
                continue
            redacted = self._apply(matcher, out, low, counts)
            if redacted is not out:
                out = redacted
                low = out.lower()
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
            start, end = match.span(group)
            value = text[start:end]
            if start == end or (spec.accept is not None and not spec.accept(match, value)):
                continue
            pieces.append(text[last:start])
            pieces.append(self._replacement(spec.rule, matcher.action, value, spec.hash_form))
            last = end
            counts[spec.rule] += 1
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
        for name in TEXT_FIELDS:
            value = record.get(name)
            if isinstance(value, str) and value:
                redacted = self.redact_text(value, counts)
                if redacted is not value:
                    record[name] = redacted
        metadata = record.get("metadata")
        if isinstance(metadata, str):
            record["metadata"] = self.redact_text(metadata, counts)
        elif isinstance(metadata, dict | list):
            self._redact_tree(metadata, counts)
        return counts

    def _is_sensitive(self, key: str) -> bool:
        normalised = _normalise_key(key)
        return any(word in normalised for word in self._sensitive_keys)

    def _key(self, key: Any, counts: Counter[str]) -> tuple[Any, bool]:
        """Return the key redacted as text, and whether its value is sensitive."""
        if not isinstance(key, str):
            return key, False
        sensitive = self._check_keys and self._is_sensitive(key)
        redacted = self.redact_text(key, counts)
        if redacted is key:
            if len(self._clean_keys) >= _CACHE_LIMIT:
                self._clean_keys.clear()
            self._clean_keys[key] = sensitive
        return redacted, sensitive

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
        counts["sensitive_key"] += 1
        if self._sensitive_action is Action.HASH:
            import json

            try:
                canonical = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
            except (TypeError, ValueError):  # keys json cannot sort, or a reference cycle
                canonical = repr(value)
            return f"[HASH:sensitive_key:{self._digest(canonical)}]"
        return "[REDACTED:sensitive_key]"

    def _redact_tree(self, root: dict[str, Any] | list[Any], counts: Counter[str]) -> None:
        # Iterative so that deeply nested metadata cannot exhaust the interpreter's stack.
        pending: list[Any] = [root]
        while pending:
            node = pending.pop()
            if isinstance(node, list):
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
                pair_sensitive = isinstance(label, str) and self._is_sensitive(label)
            clean_keys = self._clean_keys
            for i, (key, value) in enumerate(node.items()):
                sensitive = clean_keys.get(key)
                if sensitive is None:
                    new_key, sensitive = self._key(key, counts)
                else:
                    new_key = key
                if sensitive or (pair_sensitive and key == "value"):
                    new = self._redact_sensitive(value, counts)
                elif type(value) is str:
                    new = self.redact_text(value, counts) if value else value
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
