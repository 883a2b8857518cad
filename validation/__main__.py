"""``python -m archlint_validation``: the validate command alone, without the archlint CLI."""

import typer

from .cli import validate

app = typer.Typer(add_completion=False, help="archlint validate")
app.command("validate")(validate)


def main() -> None:
    # a single-command app: `python -m archlint_validation --quick ...` (the "validate" word is optional)
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "validate":
        del sys.argv[1]
    typer.main.get_command(app)(prog_name="python -m archlint_validation")


if __name__ == "__main__":
    main()
