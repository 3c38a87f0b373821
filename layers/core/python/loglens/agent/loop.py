"""The Messages API tool-use loop: Claude writes SQL, the tools run it, errors go back until it answers.

Each step is one model call. Tool calls are run and their results sent back; a refusal, an unknown
column, a timeout or any database error is sent back as a tool_result with is_error so the model can
correct itself. The model finishes by calling the `answer` tool; its SQL is the final query (reused when it
already ran in this loop). A reply in text alone is a complete answer too: the model declined (a harmful or
impossible request) or needed no SQL. On the last step the answer tool is forced, so the budget ends in an
answer.

One deadline covers the whole question (`deadline_seconds`): each model call gets what is left of it (at
most `model_timeout_seconds`), and the clients are built without the SDK's hidden retries, so a slow model
cannot quietly triple the wait. When the time is spent the answer is marked incomplete.

With a lake (loglens.agent.lake_tools) the model has a second tool, run_lake_query (Trino SQL on the lake),
the prompt says which range each source holds, and the answer tool says which source its SQL is for. On a
lake-only stage (no `tools`, no `facts`: loglens.agent.lake_only) run_lake_query is the only query tool.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from loglens.agent import lake_only
from loglens.agent.answer import Answer, Attempt, Explanation, Performance, TokenUsage
from loglens.agent.conversations import Turn, history_messages
from loglens.agent.facts import FactsCache
from loglens.agent.lake_tools import (
    ANSWER_SOURCE,
    LAKE_TOOL,
    RUN_LAKE_QUERY,
    LakeQueryResult,
    LakeTools,
    lake_prompt,
    sources_prompt,
)
from loglens.agent.prompt import facts_prompt, question_text, stable_prompt, system_blocks
from loglens.agent.rows import ModelView
from loglens.agent.settings import AgentSettings
from loglens.agent.tools import QueryFailed, QueryResult, QueryTools

_SQL_PROPERTY = {"type": "string", "description": "One PostgreSQL SELECT statement."}
# A model call given less time than this would fail anyway; the loop stops and answers instead.
_LEAST_MODEL_SECONDS = 2.0
TOOLS: list[dict[str, Any]] = [
    {
        "name": "run_query",
        "description": (
            "Run one read-only PostgreSQL SELECT on the log database and return its columns, the first rows, "
            "the row count and the time taken. Refusals by the SQL guard and database errors come back as "
            "errors that say what to fix."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "sql": _SQL_PROPERTY,
                "purpose": {"type": "string", "description": "What this query is meant to find out."},
            },
            "required": ["sql"],
        },
    },
    {
        "name": "explain_query",
        "description": (
            "Show the planner's estimate for one SELECT without running it: total cost, estimated rows, how many "
            "partitions of logs it would scan out of how many, and the indexes it would use."
        ),
        "input_schema": {"type": "object", "properties": {"sql": _SQL_PROPERTY}, "required": ["sql"]},
    },
    {
        "name": "answer",
        "description": (
            "Give the final answer. sql is the one query whose result answers the question (the person sees its "
            "full result). summary states the answer with its numbers in one sentence; key_insight says what "
            "stands out and why; recommendation is one concrete next step; baseline describes the comparison "
            "with a usual period when one was made."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "sql": _SQL_PROPERTY,
                "summary": {"type": "string"},
                "key_insight": {"type": "string"},
                "recommendation": {"type": "string"},
                "baseline": {"type": "string"},
            },
            "required": ["sql", "summary", "key_insight", "recommendation"],
        },
    },
]


def tool_definitions(*, lake: bool) -> list[dict[str, Any]]:
    """The tools the model gets: with a lake, run_lake_query too, and the answer tool names its source."""
    if not lake:
        return TOOLS
    answer = next(tool for tool in TOOLS if tool["name"] == "answer")
    schema = answer["input_schema"]
    answer = {**answer, "input_schema": {**schema, "properties": {**schema["properties"], "source": ANSWER_SOURCE}}}
    return [*(tool for tool in TOOLS if tool["name"] != "answer"), LAKE_TOOL, answer]


class MessagesApi(Protocol):
    def create(
        self,
        *,
        model: str,
        max_tokens: int,
        system: Any,
        tools: Any,
        messages: Any,
        tool_choice: Any,
        timeout: float,
    ) -> Any: ...


class ModelClient(Protocol):
    """The part of anthropic.Anthropic / anthropic.AnthropicBedrock the loop uses."""

    @property
    def messages(self) -> MessagesApi: ...


class ModelCallFailed(RuntimeError):
    """The model provider could not be reached or refused the request."""


@dataclass
class _Run:
    """The state of one question's loop."""

    usage: TokenUsage = field(default_factory=TokenUsage)
    attempts: list[Attempt] = field(default_factory=list)
    results: dict[str, QueryResult] = field(default_factory=dict)  # by the SQL as it ran
    last_ok: QueryResult | None = None
    steps: int = 0


@dataclass
class _Final:
    result: QueryResult | None
    explanation: Explanation
    complete: bool = True


class Agent:
    def __init__(
        self,
        client: ModelClient,
        tools: QueryTools | None,
        facts: FactsCache | None,
        settings: AgentSettings,
        view: ModelView,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lake: LakeTools | None = None,
    ) -> None:
        """`tools` and `facts` are PostgreSQL's; both None is a lake-only agent, which needs `lake`."""
        if (tools is None) != (facts is None) or (tools is None and lake is None):
            raise ValueError("an agent needs PostgreSQL's tools and facts, a lake, or both")
        self.client = client
        self.tools = tools
        self.facts = facts
        self.settings = settings
        self.view = view
        self.clock = clock
        self.lake = lake
        if tools is None:
            self._stable = lake_only.stable_prompt(max_rows=settings.max_rows, model_rows=settings.model_rows)
            self._tools = lake_only.TOOLS
        else:
            self._stable = stable_prompt(max_rows=settings.max_rows, model_rows=settings.model_rows)
            if lake is not None:
                self._stable += lake_prompt()
            self._tools = tool_definitions(lake=lake is not None)
        self._tool_names = tuple(str(tool["name"]) for tool in self._tools)

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        started = time.perf_counter()
        deadline = time.monotonic() + self.settings.deadline_seconds
        run = _Run()
        system = system_blocks(self._stable, self._facts())
        messages: list[dict[str, Any]] = history_messages(history)
        messages.append({"role": "user", "content": question_text(question, self.clock())})
        final: _Final | None = None
        out_of_time = False
        while final is None and run.steps < self.settings.max_steps:
            remaining = deadline - time.monotonic()
            if remaining < _LEAST_MODEL_SECONDS:
                out_of_time = True
                break
            run.steps += 1
            timeout = min(self.settings.model_timeout_seconds, remaining)
            response = self._call(system, messages, force_answer=run.steps == self.settings.max_steps, timeout=timeout)
            run.usage.add(getattr(response, "usage", None))
            blocks = list(getattr(response, "content", []) or [])
            messages.append({"role": "assistant", "content": [_block_param(b) for b in blocks]})
            calls = [b for b in blocks if getattr(b, "type", None) == "tool_use"]
            if not calls:
                final = _text_answer(blocks, getattr(response, "stop_reason", None), run.last_ok)
                break
            results: list[dict[str, Any]] = []
            for call in calls:
                content, error, done = self._dispatch(call, run)
                results.append(_tool_result(str(call.id), content, error))
                if done is not None:
                    final = done
            if final is None:
                messages.append({"role": "user", "content": results})
        if final is None:
            why = (
                f"I ran out of time ({self.settings.deadline_seconds:g} s) after {run.steps} steps; "
                if out_of_time
                else f"I could not finish within {self.settings.max_steps} steps; "
            )
            explanation = Explanation(
                summary=why + ("the last query that worked is shown." if run.last_ok else "no query worked.")
            )
            final = _Final(run.last_ok, explanation, complete=False)
        return self._answer(question, run, final, started)

    def _call(
        self, system: list[dict[str, Any]], messages: list[dict[str, Any]], *, force_answer: bool, timeout: float
    ) -> Any:
        import anthropic

        choice = {"type": "tool", "name": "answer"} if force_answer else {"type": "auto"}
        try:
            return self.client.messages.create(
                model=self.settings.model,
                max_tokens=self.settings.max_tokens,
                system=system,
                tools=self._tools,
                messages=_with_cache_marker(messages),
                tool_choice=choice,
                timeout=timeout,
            )
        except anthropic.APITimeoutError as error:
            raise ModelCallFailed(f"the model did not answer within {timeout:.0f} s") from error
        except anthropic.APIError as error:
            raise ModelCallFailed(f"the model call failed: {error}") from error

    def _dispatch(self, call: Any, run: _Run) -> tuple[str, bool, _Final | None]:
        """Run one tool call: (content for the tool_result, is it an error, the final answer if this was it)."""
        name = str(getattr(call, "name", ""))
        arguments = call.input if isinstance(getattr(call, "input", None), dict) else {}
        sql = arguments.get("sql")
        if name not in self._tool_names:
            return f"unknown tool {name!r}; use {', '.join(self._tool_names)}", True, None
        if not isinstance(sql, str) or not sql.strip():
            if name == "answer" and run.last_ok is not None:
                sql = run.last_ok.sql
            else:
                return f"{name} needs the SQL in its sql field", True, None
        if name == RUN_LAKE_QUERY or (name == "answer" and self._answers_from_lake(sql, arguments, run)):
            return self._dispatch_lake(name, sql, arguments, run)
        assert self.tools is not None  # without PostgreSQL only run_lake_query and answer reach this far
        try:
            if name == "explain_query":
                figures = self.tools.explain(sql)
                run.attempts.append(Attempt(tool=name, sql=sql, ok=True))
                return json.dumps(figures.as_dict()), False, None
            result = self._result_of(sql, run, name)
        except QueryFailed as failure:
            run.attempts.append(Attempt(tool=name, sql=sql, ok=False, error=failure.message))
            return failure.message, True, None
        if name == "run_query":
            return json.dumps(self._for_model(result), default=str), False, None
        return "answer received", False, _Final(result, _explanation(arguments))

    def _facts(self) -> str:
        """The database's facts and, with a lake, which range each source holds; lake-only, the lake's days."""
        if self.facts is None:
            return lake_only.facts_prompt(self.lake.extent() if self.lake is not None else None)
        facts = self.facts.get()
        text = facts_prompt(facts, self.view.text)
        if self.lake is None:  # one source: nothing to choose between
            return text
        return text + sources_prompt(list(facts.layout.partitions), self.lake.extent())

    def _answers_from_lake(self, sql: str, arguments: dict[str, Any], run: _Run) -> bool:
        if self.lake is None:
            return False
        if self.tools is None:  # lake-only: every answer's SQL is lake SQL
            return True
        if arguments.get("source") in ("lake", "postgres"):
            return bool(arguments["source"] == "lake")
        try:  # the source was not said: the lake query that ran with this text, if there was one
            return isinstance(run.results.get(str(self.lake.check(sql).sql)), LakeQueryResult)
        except QueryFailed:
            return False

    def _dispatch_lake(
        self, name: str, sql: str, arguments: dict[str, Any], run: _Run
    ) -> tuple[str, bool, _Final | None]:
        assert self.lake is not None
        try:
            statement = str(self.lake.check(sql).sql)
            cached = run.results.get(statement)
            if isinstance(cached, LakeQueryResult) and name == "answer":
                result: LakeQueryResult = cached
            else:
                result = self.lake.run(sql)
                run.results[result.sql] = result
                run.last_ok = result
                run.attempts.append(
                    Attempt(tool=name, sql=result.sql, ok=True, elapsed_ms=result.elapsed_ms, rows=len(result.rows))
                )
        except QueryFailed as failure:
            run.attempts.append(Attempt(tool=name, sql=sql, ok=False, error=failure.message))
            return failure.message, True, None
        if name == RUN_LAKE_QUERY:
            shown = {**self._for_model(result), "bytes_scanned": result.bytes_scanned, "cost_usd": result.cost_usd}
            return json.dumps(shown, default=str), False, None
        return "answer received", False, _Final(result, _explanation(arguments))

    def _result_of(self, sql: str, run: _Run, tool: str) -> QueryResult:
        assert self.tools is not None
        # The final answer usually names a query that already ran; the guard's text identifies it.
        statement = str(self.tools.check(sql).sql)
        cached = run.results.get(statement)
        if cached is not None and tool == "answer":
            return cached
        result = self.tools.run(sql)
        run.results[result.sql] = result
        run.last_ok = result
        run.attempts.append(
            Attempt(tool=tool, sql=result.sql, ok=True, elapsed_ms=result.elapsed_ms, rows=len(result.rows))
        )
        return result

    def _for_model(self, result: QueryResult) -> dict[str, Any]:
        shown = self.view.rows_for_model(result.rows)
        return {
            "sql": result.sql,
            "columns": result.columns,
            "rows": shown,
            "row_count": len(result.rows),
            "rows_shown": len(shown),
            "more_rows_may_exist": result.limit_reached,
            "elapsed_ms": result.elapsed_ms,
            "guard": result.guard_note,
        }

    def _answer(self, question: str, run: _Run, final: _Final, started: float) -> Answer:
        result = final.result
        performance = Performance()
        if result is not None:
            performance = Performance(
                query_ms=result.elapsed_ms, rows=len(result.rows), row_limit_reached=result.limit_reached
            )
        if isinstance(result, LakeQueryResult):  # no plan to explain: the lake reports what it scanned
            performance = performance.model_copy(update=result.figures())
        elif result is not None and self.tools is not None:
            try:
                figures = self.tools.explain(result.sql)
            except QueryFailed:
                pass  # figures are a courtesy; the answer stands without them
            else:
                performance = performance.model_copy(update=figures.as_dict())
        return Answer(
            question=question,
            sql=result.sql if result else None,
            columns=result.columns if result else [],
            rows=result.rows if result else [],
            explanation=final.explanation,
            performance=performance,
            usage=run.usage,
            steps=run.steps,
            attempts=run.attempts,
            model=self.settings.model,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            complete=final.complete,
        )

    def turn(self, answer: Answer) -> Turn:
        """What a follow-up needs to know about this answer, as the model saw it."""
        preview = self.view.rows_for_model(answer.rows[:5])
        explanation = answer.explanation
        return Turn(
            answer.question,
            answer.sql,
            self.view.text(explanation.summary),
            answer.columns,
            preview,
            key_insight=self.view.text(explanation.key_insight),
        )


def _text_answer(blocks: Sequence[Any], stop_reason: str | None, last_ok: QueryResult | None) -> _Final:
    """A reply without tool calls: the model's final word (a refusal, or an answer that needed no SQL).

    Complete unless the reply was cut off by max_tokens or is empty.
    """
    text = "\n".join(str(b.text) for b in blocks if getattr(b, "type", None) == "text").strip()
    if not text:
        return _Final(last_ok, Explanation(summary="The model gave no answer."), complete=False)
    if stop_reason == "max_tokens":
        return _Final(last_ok, Explanation(summary=text + " …(cut off at the token limit)"), complete=False)
    return _Final(last_ok, Explanation(summary=text))


def _explanation(arguments: dict[str, Any]) -> Explanation:
    """The answer tool's explanation fields."""
    return Explanation(
        summary=str(arguments.get("summary") or "").strip() or "(no summary given)",
        key_insight=str(arguments.get("key_insight") or "").strip(),
        recommendation=str(arguments.get("recommendation") or "").strip(),
        baseline=str(arguments["baseline"]).strip() if arguments.get("baseline") else None,
    )


def _block_param(block: Any) -> dict[str, Any]:
    """A response content block as a request block (only the fields the API accepts back)."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": str(block.text)}
    if kind == "tool_use":
        return {"type": "tool_use", "id": str(block.id), "name": str(block.name), "input": block.input}
    return dict(block.model_dump(exclude_none=True)) if hasattr(block, "model_dump") else {"type": str(kind)}


def _tool_result(tool_use_id: str, content: str, error: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": content}
    if error:
        result["is_error"] = True
    return result


def _with_cache_marker(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark the end of the conversation so far as cacheable: the next step re-reads it from the cache.

    Only the newest message carries the marker (with the two in the system prompt that makes three of the
    four the API allows); earlier markers would be redundant, the cache matches on the longest prefix.
    """
    if not messages:
        return messages
    *head, last = messages
    content = last["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    if not blocks:
        return messages
    blocks[-1] = {**blocks[-1], "cache_control": {"type": "ephemeral"}}
    return [*head, {**last, "content": blocks}]
