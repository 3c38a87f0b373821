"""The query API's routes, as data: the local server, the CDK stacks and the OpenAPI document read them here
(this module imports nothing, so `cdk synth` need not load the query package)."""

from __future__ import annotations

from typing import Final

QUERY_PATH: Final = "/api/v1/query"
CHECK_PATH: Final = "/api/v1/query/check"
TAIL_PATH: Final = "/api/v1/tail"
FACTS_PATH: Final = "/api/v1/facts"
SAVED_PATH: Final = "/api/v1/saved"
SAVED_ITEM_PATH: Final = "/api/v1/saved/{id}"
ANSWERS_PATH: Final = "/api/v1/answers"
ANSWER_PATH: Final = "/api/v1/answers/{id}"
# (path, method) of every route, for the local server, the CDK stacks and the OpenAPI document.
ROUTES: Final = (
    (QUERY_PATH, "POST"),
    (CHECK_PATH, "POST"),
    (TAIL_PATH, "GET"),
    (FACTS_PATH, "GET"),
    (SAVED_PATH, "GET"),
    (SAVED_PATH, "POST"),
    (SAVED_ITEM_PATH, "DELETE"),
    (ANSWERS_PATH, "POST"),
    (ANSWER_PATH, "GET"),
)
