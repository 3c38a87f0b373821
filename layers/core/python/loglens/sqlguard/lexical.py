"""The first check, on the raw text: one statement of plain tokens, before anything is parsed into a tree."""

from __future__ import annotations

import re
import unicodedata

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.errors import ParseError, SqlglotError

from loglens.sqlguard.dialects import Dialect
from loglens.sqlguard.refusal import Refused

_STRING_TOKENS = frozenset(
    {
        TokenType.STRING,
        TokenType.BYTE_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
    }
)
# Invisible, control, bidi and non-ASCII space characters; never legitimate in an identifier.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
_COMMENT = re.compile(r"--[^\n\r]*|/\*.*?\*/", re.DOTALL)


def scan_tokens(sql: str, dialect: Dialect) -> None:
    """Refuse lexical tricks before parsing: Unicode escapes, dollar quotes, non-ASCII outside literals."""
    try:
        tokens = sqlglot.tokenize(sql, read=dialect.sqlglot)
    except SqlglotError as error:
        raise Refused("parse_error", f"could not tokenize the SQL: {error}") from error
    gaps = list(sql)
    for token in tokens:
        raw = sql[token.start : token.end + 1]
        if token.token_type == TokenType.UNICODE_STRING:
            raise Refused("unicode_escape", "Unicode escape strings (U&'...') are not allowed")
        if token.token_type == TokenType.HEREDOC_STRING:
            raise Refused("dollar_quote", "dollar-quoted strings are not allowed; use a single-quoted string")
        # sqlglot cannot parse U&"..." identifiers; spot the U, & and quote written together.
        if raw in ("U", "u") and sql[token.end + 1 : token.end + 3] in ('&"', "&'"):
            raise Refused("unicode_escape", 'Unicode escape identifiers (U&"...") are not allowed')
        if token.token_type in _STRING_TOKENS:
            pass
        elif token.token_type == TokenType.IDENTIFIER:
            if any(not ch.isascii() and unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in raw):
                raise Refused("non_ascii", f"invisible or control character in identifier {raw!r}")
        elif not raw.isascii():
            raise Refused("non_ascii", f"non-ASCII character outside a string literal or quoted name: {raw!r}")
        gaps[token.start : token.end + 1] = " " * (token.end + 1 - token.start)
    # What is left between tokens is whitespace and comments; Postgres reads non-ASCII spaces as identifiers.
    between = _COMMENT.sub(" ", "".join(gaps))
    stray = [ch for ch in between if not ch.isascii()]
    if stray:
        raise Refused("non_ascii", f"non-ASCII character between tokens: {stray[0]!r} (U+{ord(stray[0]):04X})")


def parse_one_statement(sql: str, dialect: Dialect) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect.sqlglot) if s is not None]
    except ParseError as error:
        raise Refused("parse_error", _parse_error_message(error)) from error
    except SqlglotError as error:
        raise Refused("parse_error", str(error)) from error
    if not statements:
        raise Refused("empty", "no SQL statement was given")
    if len(statements) > 1:
        raise Refused("multiple_statements", f"exactly one statement is allowed, got {len(statements)}")
    return statements[0]


def _parse_error_message(error: ParseError) -> str:
    if not error.errors:
        return str(error)
    first = error.errors[0]
    return f"{first.get('description')} (line {first.get('line')}, column {first.get('col')})"
