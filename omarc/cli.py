"""The ``omarc`` command line (placeholder until the Lightning CLI lands)."""

import sys

from omarc import __version__


def main(argv: list[str] | None = None) -> None:
    print(f"omarc {__version__}: subcommands fit, validate, test, predict, bench, sweep")
    sys.exit(0)
