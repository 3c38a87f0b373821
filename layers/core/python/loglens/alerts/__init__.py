"""Incident detection and digests (issue #19): tell people before they ask.

Rooms, in the order a run uses them:

- `settings`: thresholds (per service) and the knobs of grouping, resolution and cool-down;
- `hours`: per-hour counts and latency histograms from the rollups, plus the newest minutes of `logs`;
- `templates`: error message templates per hour (the baseline of "never seen before");
- `detectors`: error-rate spikes, new error types and templates, endpoint latency regressions, silence;
- `engine` and `incidents`: findings hour by hour into incidents (grouped, linked, resolved, reopened);
- `probes`: what only `logs` can say, asked when something was found (the release at a change's start, traces
  shared with another service's incident);
- `explain` and `rows`: the facts, the guarded SQL and the words of an alert (templated, or Claude's);
- `messages`, `delivery`, `channels`: Slack Block Kit, SNS e-mail, the terminal, and when to send what;
- `store`: incidents, mutes and the run's bookkeeping in PostgreSQL (migration 0014);
- `run` (the scheduled run), `check` (a replay over a period), `digest` (the daily digest), `actions` (the
  message's buttons).
"""

from typing import Final

# The Slack buttons' route (on the query API in AWS, on `loglens dev` locally) and its body limit.
ACTIONS_PATH: Final = "/slack/actions"
ACTIONS_MAX_BODY_BYTES: Final = 64 * 1024
