"""`loglens ask`: a question in plain language, answered with guarded SQL on the read-only role.

With a question it answers once (a table and the explanation, or --json, or --sql-only); without one it
starts the interactive REPL, where follow-ups build on earlier answers. It works against `loglens dev`'s
embedded database or any DATABASE_URL (with LOGLENS_ANALYST_DATABASE_URL for the read-only role).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING, Any

from loglens.devtools.cli.output import error
from loglens.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from loglens.agent.answer import Answer
    from loglens.agent.service import AskService
    from loglens.devtools.lake.local import LocalLake

TERMINAL_ROWS = 50
REPL_HELP = "Ask a question; follow-ups build on earlier answers. \\new starts over, \\sql shows the SQL, \\q quits."


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "ask",
        help="ask a question about the logs in plain language (interactive without a question)",
        description="Claude turns the question into guarded, read-only SQL, runs it and explains the result. "
        "Needs ANTHROPIC_API_KEY (or MODEL_PROVIDER=bedrock with MODEL_ID and AWS credentials).",
    )
    parser.add_argument("question", nargs="*", help="the question; leave it out for the interactive mode")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    output.add_argument("--sql-only", action="store_true", help="print only the final SQL")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from loglens.agent.client import check_credentials
    from loglens.agent.settings import AgentSettings

    check_credentials(AgentSettings.from_env())  # in milliseconds, before the SDK and the database start
    service = cli_service(Settings.from_env())
    question = " ".join(args.question).strip()
    if question:
        return _ask_once(service, question, json_output=args.json, sql_only=args.sql_only)
    return _repl(service, json_output=args.json, sql_only=args.sql_only)


def cli_service(settings: Settings) -> AskService:
    """The agent on this machine's analyst connection, with follow-ups kept in memory for the session."""
    import os

    from loglens.agent.client import make_client
    from loglens.agent.conversations import MemoryConversations
    from loglens.agent.service import AskService, build_agent
    from loglens.agent.settings import AgentSettings
    from loglens.db.connect import ConnectionProvider
    from loglens.devtools.local.ask import role_urls

    agent_settings = AgentSettings.from_env()
    client = make_client(agent_settings)  # fails first, before anything is started, when there is no key
    urls = role_urls(settings)
    if urls.warning:
        error(f"warning: {urls.warning}")
    analyst = urls.analyst
    lake = _local_lake(settings)
    agent = build_agent(
        analyst=ConnectionProvider(lambda: analyst, application="loglens-ask-cli"),
        client=client,
        settings=agent_settings,
        environ=os.environ,
        lake=lake,
        lake_extent=lake.extent if lake is not None else None,
    )
    return AskService(agent, MemoryConversations())


def _local_lake(settings: Settings) -> LocalLake | None:
    """The home's local lake when it has one (loglens.devtools.lake.wiring), so older days can be asked."""
    from loglens.devtools.lake.wiring import lake_enabled, local_lake

    return local_lake(settings) if lake_enabled(settings) else None


def _ask_once(service: AskService, question: str, *, json_output: bool, sql_only: bool) -> int:
    answer = _answer(service, question, conversation=None)
    if answer is None:
        return 1
    _print(answer, json_output=json_output, sql_only=sql_only)
    # A text-only answer (a refusal, or one that needed no SQL) is an answer; only a cut-short one fails.
    return 0 if answer.complete else 1


def _repl(service: AskService, *, json_output: bool, sql_only: bool) -> int:
    from loglens.agent.conversations import new_conversation_id

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - line editing and history for input()
    print(f"loglens ask: {REPL_HELP}", file=sys.stderr)
    conversation = f"cli:{new_conversation_id()}"
    last: Answer | None = None
    while True:
        try:
            line = input("loglens> ").strip()
        except EOFError:
            print(file=sys.stderr)
            return 0
        if not line:
            continue
        if line in ("\\q", "exit", "quit"):
            return 0
        if line in ("\\h", "help", "?"):
            print(REPL_HELP, file=sys.stderr)
            continue
        if line == "\\new":
            conversation, last = f"cli:{new_conversation_id()}", None
            print("(new conversation)", file=sys.stderr)
            continue
        if line == "\\sql":
            print(last.sql if last and last.sql else "(no SQL yet)")
            continue
        answer = _answer(service, line, conversation=conversation)
        if answer is not None:
            last = answer
            _print(answer, json_output=json_output, sql_only=sql_only)


def _answer(service: AskService, question: str, *, conversation: str | None) -> Answer | None:
    from loglens.agent.loop import ModelCallFailed
    from loglens.agent.tools import DatabaseUnavailable

    try:
        return service.ask(question, conversation=conversation)
    except (ModelCallFailed, DatabaseUnavailable) as failure:
        error(str(failure))
        return None


def _print(answer: Answer, *, json_output: bool, sql_only: bool) -> None:
    if json_output:
        print(answer.model_dump_json(indent=2))
    elif sql_only:
        if answer.sql:
            print(answer.sql)
        else:  # nothing for a pipe; the person still learns why
            print(f"(no SQL) {answer.explanation.summary}", file=sys.stderr)
    else:
        from rich.console import Console

        render_answer(answer, Console())


def render_answer(answer: Answer, console: Console) -> None:
    """The answer for a terminal: the explanation first, then the rows, the SQL and the figures."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.syntax import Syntax
    from rich.table import Table

    explanation = answer.explanation
    lines = [f"[bold]{escape(explanation.summary)}[/bold]"]
    if explanation.key_insight:
        lines.append(f"[cyan]Insight:[/cyan] {escape(explanation.key_insight)}")
    if explanation.baseline:
        lines.append(f"[cyan]Baseline:[/cyan] {escape(explanation.baseline)}")
    if explanation.recommendation:
        lines.append(f"[green]Recommendation:[/green] {escape(explanation.recommendation)}")
    if not answer.complete:
        lines.append("[yellow]The agent stopped before it finished; this answer may be incomplete.[/yellow]")
    console.print(Panel("\n".join(lines), title=escape(answer.question), title_align="left"))
    if answer.columns:
        table = Table(show_lines=False)
        for column in answer.columns:
            table.add_column(escape(column), overflow="fold")
        for row in answer.rows[:TERMINAL_ROWS]:
            table.add_row(*(escape("" if v is None else str(v)) for v in row))
        console.print(table)
        if len(answer.rows) > TERMINAL_ROWS:
            console.print(f"[dim]{len(answer.rows) - TERMINAL_ROWS} more rows (use --json for all of them)[/dim]")
    if answer.sql:
        console.print(Syntax(answer.sql, "sql", word_wrap=True))
    console.print(f"[dim]{escape(answer.figures())}[/dim]")
