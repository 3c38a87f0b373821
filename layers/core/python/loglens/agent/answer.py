"""What a question gets back: the SQL, its result, an explanation, the plan figures and what it cost."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Explanation(BaseModel):
    summary: str = Field(description="One sentence that answers the question with the numbers.")
    key_insight: str = ""
    recommendation: str = ""
    baseline: str | None = Field(default=None, description="The comparison with a usual period, when one was made.")


class Performance(BaseModel):
    """Figures of the final query: its run time, and the planner's view of it."""

    query_ms: float | None = None
    rows: int = 0
    row_limit_reached: bool = False
    estimated_cost: float | None = None
    estimated_rows: float | None = None
    partitions_scanned: int | None = None
    partitions_total: int | None = None
    indexes: list[str] = Field(default_factory=list)
    source: str = Field(default="postgres", description="Where the final query ran: postgres or lake.")
    engine: str | None = Field(default=None, description="The lake's engine (athena, or duckdb locally).")
    bytes_scanned: int | None = Field(default=None, description="Bytes the lake query scanned.")
    cost_usd: float | None = Field(default=None, description="What the lake query cost (Athena's price).")


class TokenUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def add(self, usage: Any) -> None:
        """Add a Messages API `usage` object (cache fields may be absent or null)."""
        self.input_tokens += int(getattr(usage, "input_tokens", 0) or 0)
        self.output_tokens += int(getattr(usage, "output_tokens", 0) or 0)
        self.cache_creation_input_tokens += int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
        self.cache_read_input_tokens += int(getattr(usage, "cache_read_input_tokens", 0) or 0)

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


class Attempt(BaseModel):
    """One tool call the model made, for the record (what was tried and why it failed)."""

    tool: str
    sql: str
    ok: bool
    error: str | None = None
    elapsed_ms: float | None = None
    rows: int | None = None


class Answer(BaseModel):
    question: str
    conversation_id: str | None = None
    ask_id: str | None = Field(default=None, description="Over HTTP: the id GET /api/v1/ask/{id} reads it by.")
    sql: str | None = Field(default=None, description="The final query as it ran (after the guard).")
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    explanation: Explanation
    performance: Performance = Field(default_factory=Performance)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    steps: int = Field(default=0, description="Model calls made.")
    attempts: list[Attempt] = Field(default_factory=list)
    model: str = ""
    latency_ms: float = 0.0
    complete: bool = Field(
        default=True,
        description="False when the step budget or the deadline ran out before an answer, or the reply was cut off. "
        "An answer in text alone (a refusal, or one that needed no SQL) is complete.",
    )

    def figures(self) -> str:
        """One line of figures: query time, rows, partitions, indexes, cost, tokens, steps and latency."""
        perf, usage = self.performance, self.usage
        parts = []
        if perf.query_ms is not None:
            parts.append(f"query {perf.query_ms:,.0f} ms")
        parts.append(f"{perf.rows:,} rows" + ("+" if perf.row_limit_reached else ""))
        if perf.partitions_total:
            parts.append(f"partitions {perf.partitions_scanned}/{perf.partitions_total}")
        if perf.indexes:
            parts.append("indexes " + ", ".join(perf.indexes[:3]))
        if perf.estimated_cost is not None:
            parts.append(f"cost {perf.estimated_cost:,.0f}")
        if perf.bytes_scanned is not None:
            parts.append(f"lake: {perf.bytes_scanned / 1_048_576:,.1f} MiB scanned, ${perf.cost_usd or 0:.6f}")
        cached = f" ({usage.cache_read_input_tokens:,} read from cache)" if usage.cache_read_input_tokens else ""
        parts.append(f"{usage.input_tokens + usage.output_tokens:,} tokens{cached}")
        parts.append(f"{self.steps} steps")
        parts.append(f"{self.latency_ms / 1000:.1f} s")
        return " · ".join(parts)
