"""`loglens eval`: the agent's execution accuracy on questions about the demo data, with a real model.

Needs model credentials (ANTHROPIC_API_KEY, or MODEL_PROVIDER=bedrock with MODEL_ID) and the demo data
in the database (`loglens demo`, recently: the questions ask about windows ending now). The test suite runs
the same harness with a scripted model instead (tests/unit/test_eval.py).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from loglens.devtools.cli.output import error, table
from loglens.settings import Settings


def register(commands: Any) -> None:
    parser = commands.add_parser("eval", help="measure the agent's accuracy on questions about the demo data")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these question ids")
    parser.add_argument("--limit", type=int, help="run only the first N questions")
    parser.add_argument("--list", action="store_true", help="list the questions and their gold SQL, then exit")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from loglens.agent.client import has_credentials
    from loglens.devtools.eval import demo_cases, run_eval

    cases = demo_cases()
    if args.only:
        unknown = sorted(set(args.only) - {c.id for c in cases})
        if unknown:
            error(f"unknown question ids: {', '.join(unknown)}")
            return 2
        cases = [c for c in cases if c.id in set(args.only)]
    if args.limit is not None:
        cases = cases[: max(args.limit, 0)]
    if args.list:
        listed = [(c.id, c.question, c.gold_sql or "(none: decline in text)") for c in cases]
        table("questions", ["id", "question", "gold SQL"], listed)
        return 0
    if not has_credentials():
        error(
            "loglens eval asks a real model: set ANTHROPIC_API_KEY (or MODEL_PROVIDER=bedrock and MODEL_ID). "
            "The test suite runs the harness with scripted replies instead."
        )
        return 2
    from loglens.devtools.cli.ask import cli_service

    service = cli_service(Settings.from_env())
    agent = service.agent
    if agent.tools is None:  # the gold SQL runs on PostgreSQL; a lake-only agent has none to compare on
        error("loglens eval needs PostgreSQL to run the gold SQL on; this agent has only the lake")
        return 2
    tools = agent.tools

    def progress(result: Any) -> None:
        if not args.json:
            mark = "ok  " if result.correct else "MISS"
            print(f"{mark} {result.id} ({result.steps} steps, {result.latency_ms / 1000:.1f} s)", flush=True)

    report = run_eval(lambda q: service.ask(q), tools, cases, model=agent.settings.model, on_result=progress)
    summary = report.as_dict()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    rows = [
        (r.id, "yes" if r.correct else "no", r.steps, r.input_tokens, r.output_tokens, f"{r.latency_ms:,.0f}",
         (r.error or "")[:60])
        for r in report.results
    ]  # fmt: skip
    table(f"loglens eval: {report.model}", ["id", "correct", "steps", "in tok", "out tok", "ms", "error"], rows)
    print(
        f"execution accuracy {summary['execution_accuracy']:.1%} ({summary['correct']}/{summary['questions']}); "
        f"per question: {summary['mean_steps']} steps, {summary['mean_input_tokens']:.0f} input and "
        f"{summary['mean_output_tokens']:.0f} output tokens ({summary['mean_cache_read_input_tokens']:.0f} read "
        f"from cache), {summary['mean_latency_ms'] / 1000:.1f} s"
    )
    return 0
