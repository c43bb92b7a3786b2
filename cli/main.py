"""`tracer`: the command line. Each sub-command lives in `cli.commands.<name>` (the
module is named after the command) and registers itself through `register(subparsers)`.
Only the module of the command being run is imported, so `tracer link …` does not pay
for the imports of `tracer dispatcher`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from cli import commands
from tracer import __version__
from tracer.errors import ConfigurationError
from tracer.files import PRIVATE_UMASK

logger = logging.getLogger(__name__)

# Exit codes: 0 done; 1 a configuration or usage problem (no restart helps: the supervisor
# and the systemd units stop there); 2 bad arguments (argparse); 70 (EX_SOFTWARE) the
# command crashed, worth a restart; 130 interrupted.
EXIT_CONFIGURATION = 1
EXIT_CRASHED = 70


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracer",
        description="Tracer: engagement tracking for marketing email and SMS.",
    )
    parser.add_argument("--version", action="version", version=f"tracer {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    names = sorted(module.name for module in pkgutil.iter_modules(commands.__path__))
    for name in [command] if command in names else names:
        importlib.import_module(f"cli.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Everything Tracer writes is for its own account only (the children inherit this).
    os.umask(PRIVATE_UMASK)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigurationError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        # Logged (so Sentry, when on, gets it with its stack trace) and told apart from a
        # configuration error by the exit code.
        logger.critical("tracer %s crashed", args.command, exc_info=True)
        return EXIT_CRASHED


if __name__ == "__main__":
    sys.exit(main())
