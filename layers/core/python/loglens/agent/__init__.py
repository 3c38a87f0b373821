"""Ask your logs: Claude turns a question into guarded, read-only SQL, runs it and explains the answer.

The pieces, each in its own module: `settings` (every knob, from the environment), `catalog` (what the
analyst may read), `prompt` (the system prompt from the record model and live database facts), `tools`
(run and explain SQL through the guard on the read-only role), `loop` (the Messages API tool-use loop),
`answer` (what comes back), `conversations` (follow-up questions), `service` (one question end to end),
`slack` and `api` (the HTTP and Slack edges), `local` (wiring for a laptop) and `eval` (the harness).

Nothing here imports the anthropic SDK, boto3 or slack_sdk at import time; the edges do it when used.
"""
