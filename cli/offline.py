"""Commands that need no server: ``lint`` and ``render``, and how findings are printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CLIError
from interpreter.errors import DefinitionError, Problem
from interpreter.lint import Check, lint_text
from interpreter.lint_types import model_problems
from interpreter.loader import load_file
from interpreter.render import render


def format_problem(source: str, problem: Problem) -> str:
    """One finding as ``FILE:LINE:COL: PATH: message`` (``FILE: PATH: message`` without a line).

    The step id is named in the message when the problem concerns a step and the message
    does not say which.
    """
    where = source if problem.line is None else f"{source}:{problem.line}:{problem.column or 1}"
    message = problem.message
    if problem.step and f"'{problem.step}'" not in message:
        message = f"step '{problem.step}': {message}"
    if problem.severity == "warning":
        message = f"warning: {message}"
    return f"{where}: {problem.path or '<document>'}: {message}"


def print_problems(source: str, problems: Iterable[Problem]) -> int:
    """Print findings on stderr, one a line; return how many there were."""
    count = 0
    for problem in problems:
        print(format_problem(source, problem), file=sys.stderr)
        count += 1
    return count


def read_definition_text(path: str) -> str:
    """The text of a definition file.

    Raises:
        CLIError: The file cannot be read.
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read: {exc}") from None


def lint_command(args: argparse.Namespace) -> int:
    """``kworkflow lint [--strict] FILE...``: exit 1 if any file has errors (or, with
    ``--strict``, warnings) or does not load."""
    findings = 0
    strict = bool(getattr(args, "strict", False))
    extra = remote_check() if getattr(args, "remote", False) else model_problems
    for path in args.files:
        try:
            text = read_definition_text(path)
        except CLIError as exc:
            print(f"kworkflow: {exc}", file=sys.stderr)
            findings += 1
            continue
        _, problems = lint_text(text, path, extra=extra)
        print_problems(path, problems)
        failing = [p for p in problems if strict or p.severity != "warning"]
        if not problems:
            print(f"{path}: ok", file=sys.stderr)
        elif not failing:
            note = f"{len(problems)} warning(s); --strict fails on them"
            print(f"{path}: ok ({note})", file=sys.stderr)
        findings += len(failing)
    return EXIT_FAILED if findings else EXIT_OK


def remote_check() -> Check:
    """Lint's typed checks plus the check against the workers of the API at ``KWORKFLOW_URL``.

    Raises:
        CLIError: The API cannot be reached or refuses the key.
    """
    from cli.http import ApiClient
    from registry.capabilities import offered_check
    from registry.workers import WorkerOffer

    with ApiClient.from_env() as api:
        listed = api.workers()
    offers = [
        WorkerOffer(
            str(w.get("worker_id")),
            str(w.get("task_queue")),
            tuple(w.get("tools") or ()),
            {str(k): tuple(v) for k, v in (w.get("providers") or {}).items()},
            w.get("default_provider"),
        )
        for w in (listed or {}).get("workers") or []
    ]
    against = offered_check(offers)
    return lambda definition: [*model_problems(definition), *against(definition)]


def render_command(args: argparse.Namespace) -> int:
    """``kworkflow render FILE [--format mermaid|dot]``: the graph on stdout."""
    read_definition_text(args.file)  # a clear message for a missing file
    try:
        defn = load_file(args.file)
    except DefinitionError as exc:
        count = print_problems(args.file, exc.problems)
        raise CLIError(f"{args.file}: {count} problem(s); nothing to render", EXIT_USAGE) from None
    sys.stdout.write(render(defn, args.format).rstrip("\n") + "\n")
    return EXIT_OK
