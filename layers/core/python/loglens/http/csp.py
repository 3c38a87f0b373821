"""The web console's Content-Security-Policy, one text for `loglens dev` and the CloudFront distribution.

The console is one script and one stylesheet from its own origin, calls its own origin's API (plus, in AWS,
the Cognito domain's token endpoint), shows no frames and posts no forms; uPlot sets styles through the
CSSOM, which style-src does not govern. So everything else is refused.
"""

from __future__ import annotations

from collections.abc import Sequence


def console_csp(connect: Sequence[str] = ()) -> str:
    """The policy; `connect` adds origins the console may call besides its own (the Cognito domain)."""
    sources = " ".join(["'self'", *connect])
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {sources}; "
        "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
