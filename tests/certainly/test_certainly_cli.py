"""``scillm serve certainly``: the command registers, documents itself and refuses bad settings."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from scillm.certainly.cli import register


def cli() -> typer.Typer:
    app = typer.Typer()
    serve = typer.Typer()
    app.add_typer(serve, name="serve")
    app.command("version")(lambda: None)  # a second command keeps "serve" a subcommand
    register(app, serve)
    return app


def test_serve_certainly_is_registered_with_its_defaults() -> None:
    result = CliRunner().invoke(cli(), ["serve", "certainly", "--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "8787" in result.output
    assert "--allow-axiom" in result.output and "--max-seconds" in result.output


def test_bad_settings_are_refused_before_serving() -> None:
    result = CliRunner().invoke(cli(), ["serve", "certainly", "--backend", "isabelle"])
    assert result.exit_code == 2 and "unknown backend 'isabelle'" in result.output
