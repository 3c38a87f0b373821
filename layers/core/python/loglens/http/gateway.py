"""The answers API Gateway gives itself, before any function runs, in the one error shape {"error": "..."}.

API Gateway answers some requests on its own: no route, no API key, over its 10 MB limit (or a body
too large for Lambda's 6 MB), throttled, quota used up, a required header missing, a function that
timed out. By default those bodies are {"message": "..."} or plain text. Both REST APIs replace them
with these (infra/components/rest_api.py), and `loglens dev` answers the same texts for the same
cases, so a client parses one shape everywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

NO_ROUTE: Final = "no such route or method; every route is listed at /api/v1/openapi.json"
FORBIDDEN: Final = "Forbidden: send a valid x-api-key header"
TOO_LARGE: Final = "body too large for API Gateway (10 MB) or for the function (6 MB event); send smaller batches"
INTERNAL: Final = "internal error; the function's log has the details"


@dataclass(frozen=True)
class GatewayAnswer:
    status: int | None  # None: the status API Gateway picks
    message: str | None  # None: API Gateway's own message for the case

    def template(self) -> str:
        """A response mapping template producing {"error": "..."}."""
        if self.message is None:
            # messageString is $context.error.message already quoted as a JSON string.
            return '{"error": $context.error.messageString}'
        # A mapping template is Velocity: "$" and "#" would start expressions.
        text = json.dumps({"error": self.message}).replace("$", "\\$").replace("#", "\\#")
        return text


# By gateway response type (docs: "Gateway response types for API Gateway").
GATEWAY_ANSWERS: Final[dict[str, GatewayAnswer]] = {
    "DEFAULT_4XX": GatewayAnswer(None, None),
    "DEFAULT_5XX": GatewayAnswer(None, None),
    # Also a known path with another method: API Gateway cannot tell the two apart (locally that is a 405).
    "MISSING_AUTHENTICATION_TOKEN": GatewayAnswer(404, NO_ROUTE),
    "INVALID_API_KEY": GatewayAnswer(403, FORBIDDEN),
    "REQUEST_TOO_LARGE": GatewayAnswer(413, TOO_LARGE),
    "UNSUPPORTED_MEDIA_TYPE": GatewayAnswer(415, None),
    "BAD_REQUEST_PARAMETERS": GatewayAnswer(400, None),
    "THROTTLED": GatewayAnswer(429, "too many requests for this API key; resend after a pause"),
    "QUOTA_EXCEEDED": GatewayAnswer(429, "this API key's daily quota is used up"),
    "INTEGRATION_TIMEOUT": GatewayAnswer(504, "the function did not answer in time; resend (event ids deduplicate)"),
}
