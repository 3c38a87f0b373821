-- loglens: run-as=owner
-- Slack request signatures already answered (loglens.agent.replays): a copy of a signed slash command
-- verifies for five minutes, so the ask worker claims each signature here before answering and ignores
-- one it finds. The writer login (which the worker already uses for conversation turns) may only insert
-- and read; the maintain job deletes expired rows as the owner.
CREATE TABLE slack_requests_seen (
    signature  text        NOT NULL
        CONSTRAINT slack_requests_seen_signature_check CHECK (length(signature) BETWEEN 1 AND 128),
    expires_at timestamptz NOT NULL,
    CONSTRAINT slack_requests_seen_pkey PRIMARY KEY (signature)
);
CREATE INDEX slack_requests_seen_expires_at ON slack_requests_seen (expires_at);

GRANT SELECT, INSERT ON slack_requests_seen TO loglens_writer;
