"""One question end to end: earlier turns in, the agent's answer out, the new turn stored.

`AskService` is what the HTTP route, the Slack worker and the CLI call. It is built from parts (an agent
from `build_agent`, a conversation store), so the same code runs with the Anthropic API or Bedrock, with
the PostgreSQL conversation store or the in-memory one, on a laptop or in a Lambda.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from loglens.agent.answer import Answer
from loglens.agent.conversations import AnswerStore, Conversations, Turn
from loglens.agent.settings import AgentSettings, RowPrivacy

if TYPE_CHECKING:
    from loglens.agent.lake_tools import LakeTools
    from loglens.agent.loop import Agent, ModelClient
    from loglens.agent.rows import ModelView
    from loglens.db.connect import ConnectionProvider
    from loglens.lake.query import LakeExtent, LakeQuery
    from loglens.sqlguard import GuardResult

log = logging.getLogger(__name__)


@dataclass
class AskService:
    agent: Agent
    conversations: Conversations | None = None
    # Where HTTP asks keep their answers for polling (usually the conversation store itself); without one,
    # POST /api/v1/ask answers within the request however long it takes.
    answers: AnswerStore | None = None

    def __post_init__(self) -> None:
        # One agent owns one analyst connection; questions from concurrent requests take turns.
        self._lock = threading.Lock()

    def ask(
        self, question: str, *, conversation: str | None = None, max_age: timedelta = timedelta(hours=24)
    ) -> Answer:
        """Answer `question`; with a conversation key, earlier turns are context and this one is stored."""
        history: list[Turn] = []
        if conversation is not None and self.conversations is not None:
            try:
                history = self.conversations.history(conversation, max_age=max_age)
            except Exception:  # without the earlier turns the question can still be answered on its own
                log.exception("could not read the conversation's earlier turns")
        with self._lock:
            answer = self.agent.ask(question, history)
        if conversation is not None and self.conversations is not None:
            try:
                self.conversations.append(conversation, self.agent.turn(answer))
            except Exception:  # the answer is worth more than the follow-up context: log it and answer anyway
                log.exception("could not store the conversation turn")
        return answer


def build_agent(
    *,
    analyst: ConnectionProvider,
    client: ModelClient,
    settings: AgentSettings,
    environ: Mapping[str, str],
    guard: Callable[..., GuardResult] | None = None,
    lake: LakeQuery | None = None,
    lake_extent: Callable[[], LakeExtent] | None = None,
) -> Agent:
    """An agent on the analyst connection (and the lake, when given: a second tool, run_lake_query); `guard`
    replaces the SQL guard only in tests that bypass it."""
    from loglens.agent.facts import FactsCache
    from loglens.agent.loop import Agent
    from loglens.agent.tools import AnalystSession, QueryTools
    from loglens.sqlguard import check_sql

    session = AnalystSession(
        analyst, statement_timeout_ms=settings.statement_timeout_ms, work_mem_mb=settings.work_mem_mb
    )
    facts = FactsCache(session.read_only_transaction, settings.facts_ttl_seconds)
    tools = QueryTools(session, facts.layout, max_rows=settings.max_rows, guard=guard or check_sql)
    lake_tools = None if lake is None else _lake_tools(lake, settings, guard, lake_extent)
    return Agent(client, tools, facts, settings, _model_view(settings, environ), lake=lake_tools)


def build_lake_agent(
    *,
    lake: LakeQuery,
    client: ModelClient,
    settings: AgentSettings,
    environ: Mapping[str, str],
    lake_extent: Callable[[], LakeExtent] | None = None,
    guard: Callable[..., GuardResult] | None = None,
) -> Agent:
    """An agent for a lake-only stage: run_lake_query is its only query tool (loglens.agent.lake_only)."""
    from loglens.agent.loop import Agent

    lake_tools = _lake_tools(lake, settings, guard, lake_extent)
    return Agent(client, None, None, settings, _model_view(settings, environ), lake=lake_tools)


def _model_view(settings: AgentSettings, environ: Mapping[str, str]) -> ModelView:
    """How rows are shown to the model: how many, how long a cell, redacted when row privacy says so."""
    from loglens.agent.rows import ModelView, model_redactor

    redactor = model_redactor(environ) if settings.row_privacy is RowPrivacy.REDACT else None
    return ModelView(rows=settings.model_rows, cell_chars=settings.model_cell_chars, redactor=redactor)


def _lake_tools(
    lake: LakeQuery,
    settings: AgentSettings,
    guard: Callable[..., GuardResult] | None,
    lake_extent: Callable[[], LakeExtent] | None,
) -> LakeTools:
    from loglens.agent.lake_tools import LakeTools
    from loglens.sqlguard import check_sql

    return LakeTools(
        lake,
        max_rows=settings.max_rows,
        guard=guard or check_sql,
        extent=lake_extent,
        extent_ttl=settings.facts_ttl_seconds,
    )


class BuiltOnFirstUse:
    """Builds the service the first time it is needed and keeps it; a failed build is retried next time.

    The Slack acknowledgement path never calls it, so it stays fast; a missing model key fails the request
    that needs the model (with a message saying so) instead of the whole server or function.
    """

    def __init__(self, build: Callable[[], AskService]) -> None:
        self._build = build
        self._service: AskService | None = None
        self._lock = threading.Lock()

    def __call__(self) -> AskService:
        with self._lock:
            if self._service is None:
                self._service = self._build()
            return self._service
