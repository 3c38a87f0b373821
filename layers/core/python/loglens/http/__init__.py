"""The one HTTP edge: API Gateway REST (payload 1.0) proxy events in, proxy responses out.

collect, ask and the query API route through `Router`; the local server turns real HTTP requests into
the same events, so local and deployed answers are the same bytes.

Why not Powertools' APIGatewayRestResolver (the first candidate): importing
``aws_lambda_powertools.event_handler`` costs ~0.3 s without bytecode (it pulls in every resolver,
the OpenAPI models and their pydantic schemas), which alone is the cold-start budget of a handler
(bench/coldstart.py). What we need of it is small: exact paths with an optional trailing id, a
method check, errors as specific JSON, CORS headers and base64 for binary answers.
"""

from loglens.http.request import HttpError, decode_body, media_type, parse_json, raw_body
from loglens.http.response import HttpResponse
from loglens.http.router import Request, Router

__all__ = [
    "HttpError",
    "HttpResponse",
    "Request",
    "Router",
    "decode_body",
    "media_type",
    "parse_json",
    "raw_body",
]
