-- loglens: run-as=owner
-- Conversation turns for follow-up questions (loglens.agent.conversations). The analyst role is
-- read-only and must stay so, so the ask path appends turns as loglens_writer: SELECT and INSERT only,
-- no UPDATE or DELETE, so a turn once written is never changed by the application. The analyst gets
-- nothing here and the SQL guard's catalog does not list this table.
CREATE TABLE conversation_turns (
    conversation_id text        NOT NULL
        CONSTRAINT conversation_turns_id_check CHECK (length(conversation_id) BETWEEN 1 AND 200),
    turn            integer     NOT NULL CONSTRAINT conversation_turns_turn_check CHECK (turn >= 1),
    question        text        NOT NULL,
    sql             text,
    summary         text        NOT NULL DEFAULT '',
    -- columns and the first rows as the model saw them (already redacted), not the full result
    preview         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversation_turns_pkey PRIMARY KEY (conversation_id, turn)
);
-- For pruning old turns (maintenance, as the owner).
CREATE INDEX conversation_turns_created_at ON conversation_turns (created_at);

GRANT SELECT, INSERT ON conversation_turns TO loglens_writer;
