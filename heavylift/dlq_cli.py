"""``heavylift dlq``: list, show, replay and purge dead letters (see ``heavylift.dlq``)."""

from __future__ import annotations

import typer

dlq_app = typer.Typer(help="Dead letters: list, show, replay, purge.", no_args_is_help=True)
