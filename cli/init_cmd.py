"""``kworkflow init [--template NAME] [DIR]`` and ``kworkflow init --list``: start a project
from one of the reference workflows shipped in the package (:mod:`examples.templates`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.errors import EXIT_OK, EXIT_USAGE, CLIError

DEFAULT_TEMPLATE = "single-dispatch"


def add_init_parser(commands: Any) -> None:
    """``kworkflow init [--template NAME] [DIR]`` / ``kworkflow init --list``."""
    init = commands.add_parser(
        "init",
        help="start a new workflow from a template",
        description="Write a reference workflow (workflow.yaml, README.md, worker.yaml and, "
        "when it needs them, tools.py) into DIR, a new or empty directory. `--list` lists the "
        "templates.",
    )
    init.add_argument("dir", nargs="?", metavar="DIR", help="where to write it (default: NAME)")
    init.add_argument(
        "--template",
        "-t",
        default=DEFAULT_TEMPLATE,
        metavar="NAME",
        help=f"the template (default: {DEFAULT_TEMPLATE})",
    )
    init.add_argument("--list", action="store_true", help="list the templates and exit")
    init.set_defaults(command_ref="cli.init_cmd:init_command")


def init_command(args: argparse.Namespace) -> int:
    """List the templates, or write one into a new directory."""
    from examples import templates

    if args.list:
        catalog = templates.catalog()
        width = max(len(t.name) for t in catalog)
        for template in catalog:
            print(f"{template.name:<{width}}  {template.description}")
        return EXIT_OK
    target = Path(args.dir if args.dir is not None else args.template)
    try:
        written = templates.write(args.template, target)
    except templates.TemplateError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc
    except OSError as exc:
        raise CLIError(f"cannot write {target}: {exc.strerror or exc}", EXIT_USAGE) from exc
    for path in written:
        print(path)
    print(
        f"Next: cd {target} && kworkflow lint workflow.yaml (README.md says how to run it)",
    )
    return EXIT_OK
