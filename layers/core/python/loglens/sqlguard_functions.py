"""Allowlist data for the SQL guard: the functions, FROM-clause functions and cast types an analyst may use,
for PostgreSQL (the hot store) and Trino (Athena over the lake).

sqlglot parses most well-known functions into typed nodes (``count(x)`` becomes ``exp.Count``) and the rest
into ``exp.Anonymous`` carrying the name as written, so the allowlist has two halves that must agree: node
classes for the typed forms and lower-case Postgres names for the anonymous ones. The unit tests parse every
name below and assert the guard accepts it, so a sqlglot upgrade that moves a function between the two
shows up as a failing test rather than as a silently refused (or silently accepted) function.
"""

from sqlglot import exp

# Postgres names, lower case, used for exp.Anonymous; listing the typed ones too keeps this the readable source
# of truth and keeps them allowed if a sqlglot version stops recognising one. The string builders (repeat, lpad,
# rpad, replace, regexp_replace) and generate_series are allowed only at sizes loglens.sqlguard.size can bound.
ALLOWED_FUNCTION_NAMES: frozenset[str] = frozenset(
    {
        # aggregates
        "count", "sum", "avg", "min", "max", "stddev", "stddev_pop", "stddev_samp", "variance",
        "var_pop", "var_samp", "percentile_cont", "percentile_disc", "mode", "array_agg", "string_agg",
        "jsonb_agg", "jsonb_object_agg", "json_agg", "bool_and", "bool_or", "every",
        # window functions
        "row_number", "rank", "dense_rank", "lag", "lead", "first_value", "last_value", "nth_value",
        "ntile", "percent_rank", "cume_dist",
        # date and time
        "now", "date_trunc", "date_part", "extract", "age", "make_interval", "to_char", "to_timestamp",
        "to_date", "date_bin", "timezone", "justify_interval", "justify_hours", "justify_days", "isfinite",
        # math
        "abs", "round", "ceil", "ceiling", "floor", "greatest", "least", "coalesce", "nullif", "power",
        "pow", "sqrt", "cbrt", "ln", "log", "log10", "exp", "mod", "div", "sign", "trunc", "width_bucket",
        "random",
        # strings
        "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length",
        "substring", "substr", "position", "strpos", "split_part", "left", "right", "trim", "btrim",
        "ltrim", "rtrim", "concat", "concat_ws", "replace", "translate", "reverse", "regexp_replace",
        "regexp_match", "regexp_matches", "regexp_count", "regexp_substr", "regexp_like",
        "regexp_split_to_array", "regexp_split_to_table", "starts_with", "md5", "string_to_array",
        "array_to_string", "to_number", "repeat", "lpad", "rpad",
        # jsonb and arrays
        "jsonb_extract_path", "jsonb_extract_path_text", "json_extract_path", "json_extract_path_text",
        "jsonb_array_elements", "jsonb_array_elements_text", "jsonb_each", "jsonb_each_text",
        "jsonb_object_keys", "jsonb_typeof", "jsonb_array_length", "to_jsonb", "jsonb_build_object",
        "jsonb_build_array", "jsonb_strip_nulls", "array_length", "cardinality", "array_position",
        # set-returning and row constructors
        "generate_series", "unnest", "row",
    }
)  # fmt: skip

# Exact node classes (subclasses are not implied: a subclass may generate a different function).
ALLOWED_FUNCTION_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        # aggregates
        exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Stddev, exp.StddevPop, exp.StddevSamp,
        exp.Variance, exp.VariancePop, exp.PercentileCont, exp.PercentileDisc, exp.Mode, exp.ArrayAgg,
        exp.GroupConcat, exp.JSONBObjectAgg, exp.JSONArrayAgg, exp.LogicalAnd, exp.LogicalOr,
        # window functions
        exp.RowNumber, exp.Rank, exp.DenseRank, exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue,
        exp.NthValue, exp.Ntile, exp.PercentRank, exp.CumeDist,
        # date and time
        exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime, exp.Localtimestamp, exp.Localtime,
        exp.TimestampTrunc, exp.DateTrunc, exp.Extract, exp.MakeInterval, exp.TimeToStr, exp.UnixToTime,
        exp.StrToTime, exp.StrToDate, exp.DateBin, exp.JustifyInterval, exp.JustifyHours, exp.JustifyDays,
        # math
        exp.Abs, exp.Round, exp.Ceil, exp.Floor, exp.Greatest, exp.Least, exp.Coalesce, exp.Nullif,
        exp.Pow, exp.Sqrt, exp.Cbrt, exp.Ln, exp.Log, exp.Exp, exp.Sign, exp.Trunc, exp.WidthBucket,
        exp.Rand,
        # strings
        exp.Lower, exp.Upper, exp.Initcap, exp.Length, exp.Substring, exp.StrPosition, exp.SplitPart,
        exp.Left, exp.Right, exp.Trim, exp.Concat, exp.ConcatWs, exp.Replace, exp.Translate,
        exp.Reverse, exp.RegexpReplace, exp.RegexpCount, exp.RegexpSubstr, exp.StartsWith,
        exp.MD5, exp.StringToArray, exp.ArrayToString, exp.ArraySize, exp.ToNumber, exp.Repeat, exp.Pad,
        # operators sqlglot models as functions: regex match, JSON access and containment, COLLATE
        exp.RegexpLike, exp.RegexpILike, exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract,
        exp.JSONBExtractScalar, exp.JSONBContains, exp.JSONBContainsTopKey, exp.JSONBContainsAnyTopKeys,
        exp.JSONBContainsAllTopKeys, exp.ArrayContainsAll, exp.ArrayContainedBy, exp.ArrayOverlaps,
        exp.ArrayContains, exp.ArrayPosition, exp.Collate,
        # syntax sqlglot models as functions
        exp.Cast, exp.Case, exp.If, exp.Array, exp.Exists,
        # set-returning
        exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.Unnest, exp.Explode,
    }
)  # fmt: skip

# Set-returning functions that may stand in FROM (or LATERAL) as a row source.
FROM_FUNCTION_NAMES: frozenset[str] = frozenset(
    {
        "generate_series", "unnest", "jsonb_array_elements", "jsonb_array_elements_text", "jsonb_each",
        "jsonb_each_text", "jsonb_object_keys", "regexp_matches", "regexp_split_to_table",
    }
)  # fmt: skip
FROM_FUNCTION_NODES: frozenset[type[exp.Expr]] = frozenset(
    {exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.Unnest, exp.Explode}
)

_T = exp.DType
# Cast targets. Object-identifier types (regclass, oid, ...) turn names into catalog lookups and are left out.
ALLOWED_CAST_TYPES: frozenset[exp.DType] = frozenset(
    {
        _T.TEXT, _T.VARCHAR, _T.CHAR, _T.NAME, _T.SMALLINT, _T.INT, _T.BIGINT, _T.DECIMAL, _T.FLOAT,
        _T.DOUBLE, _T.BOOLEAN, _T.DATE, _T.TIME, _T.TIMETZ, _T.TIMESTAMP, _T.TIMESTAMPTZ, _T.INTERVAL,
        _T.JSON, _T.JSONB, _T.UUID, _T.INET, _T.ARRAY,
    }
)  # fmt: skip

# Unquoted words Postgres reads as session-information functions even where sqlglot sees a column.
SQL_VALUE_KEYWORDS: frozenset[str] = frozenset(
    {"user", "current_user", "session_user", "current_role", "system_user", "current_catalog", "current_schema"}
)

# Trino (Athena engine 3) names for the lake. Left out on purpose: lambdas and the functions that take them
# (transform, filter, reduce, any_match, ...), table functions, session information (current_user, ...),
# binary and hashing helpers, uuid(), format(), and repeat() (an array builder nobody needs for logs).
TRINO_FUNCTION_NAMES: frozenset[str] = frozenset(
    {
        # aggregates
        "count", "count_if", "sum", "avg", "min", "max", "min_by", "max_by", "arbitrary", "any_value",
        "approx_distinct", "approx_percentile", "bool_and", "bool_or", "every", "stddev", "stddev_pop",
        "stddev_samp", "variance", "var_pop", "var_samp", "array_agg", "histogram",
        # window functions
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
        "last_value", "nth_value",
        # date and time
        "now", "date_trunc", "date_add", "date_diff", "date_format", "format_datetime", "date_parse",
        "from_iso8601_timestamp", "from_iso8601_date", "to_iso8601", "from_unixtime", "to_unixtime", "extract",
        "year", "month", "day", "hour", "minute", "second", "day_of_week", "dow", "day_of_year", "week", "quarter",
        "at_timezone", "with_timezone", "date",
        # math
        "abs", "round", "ceil", "ceiling", "floor", "greatest", "least", "coalesce", "nullif", "power", "pow",
        "sqrt", "cbrt", "ln", "log2", "log10", "exp", "mod", "sign", "truncate", "width_bucket", "random", "rand",
        "is_nan",
        # strings
        "lower", "upper", "length", "substr", "substring", "strpos", "position", "split_part", "trim", "ltrim",
        "rtrim", "concat", "concat_ws", "replace", "reverse", "regexp_like", "regexp_extract", "regexp_extract_all",
        "regexp_replace", "regexp_count", "starts_with", "lpad", "rpad", "split", "chr", "levenshtein_distance",
        "url_extract_host", "url_extract_path", "url_extract_parameter", "url_extract_query",
        # JSON held as text in the lake
        "json_extract_scalar", "json_extract", "json_parse", "json_format", "json_array_length", "json_size",
        "json_array_contains",
        # arrays
        "cardinality", "element_at", "contains", "array_join", "array_distinct", "array_max", "array_min",
        "array_position", "slice", "array_sort", "sequence", "unnest",
        # conditionals
        "if", "try",
    }
)  # fmt: skip

TRINO_FUNCTION_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        # aggregates
        exp.Count, exp.CountIf, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.ArgMin, exp.ArgMax, exp.AnyValue,
        exp.ApproxDistinct, exp.ApproxQuantile, exp.LogicalAnd, exp.LogicalOr, exp.Stddev, exp.StddevPop,
        exp.StddevSamp, exp.Variance, exp.VariancePop, exp.ArrayAgg,
        # window functions
        exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile, exp.Lag, exp.Lead,
        exp.FirstValue, exp.LastValue, exp.NthValue,
        # date and time
        exp.CurrentTimestamp, exp.CurrentDate, exp.Localtimestamp, exp.TimestampTrunc, exp.DateTrunc,
        exp.DateAdd, exp.DateDiff, exp.TimeToStr, exp.StrToTime, exp.FromISO8601Timestamp, exp.FromISO8601Date,
        exp.UnixToTime, exp.TimeToUnix, exp.Extract, exp.Year, exp.Month, exp.Day, exp.Hour, exp.Minute,
        exp.Second, exp.DayOfWeekIso, exp.DayOfYear, exp.WeekOfYear, exp.Quarter, exp.Date,
        # math
        exp.Abs, exp.Round, exp.Ceil, exp.Floor, exp.Greatest, exp.Least, exp.Coalesce, exp.Nullif, exp.Pow,
        exp.Sqrt, exp.Cbrt, exp.Ln, exp.Log, exp.Exp, exp.Sign, exp.Trunc, exp.WidthBucket, exp.Rand, exp.IsNan,
        # strings
        exp.Lower, exp.Upper, exp.Length, exp.Substring, exp.StrPosition, exp.SplitPart, exp.Trim, exp.Concat,
        exp.ConcatWs, exp.Replace, exp.Reverse, exp.RegexpLike, exp.RegexpExtract, exp.RegexpExtractAll,
        exp.RegexpReplace, exp.RegexpCount, exp.StartsWith, exp.Pad, exp.Split, exp.Chr, exp.Levenshtein,
        # JSON
        exp.JSONExtractScalar, exp.JSONExtract, exp.ParseJSON, exp.JSONFormat, exp.JSONArrayContains,
        # arrays
        exp.ArraySize, exp.ArrayContains, exp.ArrayToString, exp.ArrayDistinct, exp.ArrayMax, exp.ArrayMin,
        exp.ArrayPosition, exp.ArraySlice, exp.ArraySort,
        # syntax sqlglot models as functions
        exp.Cast, exp.TryCast, exp.Case, exp.If, exp.Try, exp.Array, exp.Exists,
        # set-returning
        exp.GenerateSeries, exp.Unnest,
    }
)  # fmt: skip

TRINO_FROM_FUNCTION_NAMES: frozenset[str] = frozenset({"unnest"})
TRINO_FROM_FUNCTION_NODES: frozenset[type[exp.Expr]] = frozenset({exp.Unnest})

# Trino cast targets: the common scalar types, JSON and arrays of them.
TRINO_CAST_TYPES: frozenset[exp.DType] = frozenset(
    {
        _T.VARCHAR, _T.CHAR, _T.TEXT, _T.TINYINT, _T.SMALLINT, _T.INT, _T.BIGINT, _T.DECIMAL, _T.FLOAT,
        _T.DOUBLE, _T.BOOLEAN, _T.DATE, _T.TIME, _T.TIMESTAMP, _T.TIMESTAMPTZ, _T.TIMESTAMPNTZ, _T.JSON,
        _T.ARRAY,
    }
)  # fmt: skip

# Trino's session-information words.
TRINO_VALUE_KEYWORDS: frozenset[str] = SQL_VALUE_KEYWORDS | {"current_path"}
