"""Request-path benchmark: the real API against a bare FastAPI + asyncpg app, side by side.

One run starts both servers with the same number of uvicorn workers against the same scratch
PostgreSQL database, and loads each with the same generator (``wrk``, in its own process) for
create, get, list (status filter), search (``q=``) and PATCH. The API runs as in production
(``ticketcreator serve``: authentication, tenant isolation, rate limits with a budget the load
cannot reach, request ids, events and outbox, audit, JSON logs at INFO); the reference
(bench/reference_api.py) runs the least SQL for the same result. It prints req/s, p50 and p99
of each, and the ratio of the API's throughput to the reference's.

    .venv/bin/python bench/api.py [--workers 2] [--connections 20] [--duration 10]

Needs ``wrk`` (Debian package). Redis databases 5 and 6 of 127.0.0.1:6379 are used and emptied.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import production_settings  # bench/common.py
from tickets import dsn, load, recreate  # bench/tickets.py

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# wrk scripts: each request is built in Lua so every create carries its own Idempotency-Key
# and gets, PATCHes and searches spread over the loaded tickets.
LUA_COMMON = """
local counter = 0
local threads = {}
-- thread_id is a global of each thread's state, set by setup()
function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(thread_id * 7919 + os.time())
end
local words = {"login", "checkout", "payment", "upload", "video", "crash", "timeout", "export"}
"""
SCENARIOS = {
    "create": """
request = function()
  counter = counter + 1
  local body = '{"title": "Bench ticket ' .. counter .. '", "description": "created by wrk"}'
  local key = RUN .. "-" .. thread_id .. "-" .. counter
  return wrk.format("POST", "/v1/tickets", {
    ["Authorization"] = AUTH, ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key}, body)
end
""",
    "get": """
request = function()
  return wrk.format("GET", "/v1/tickets/T-" .. math.random(1, ROWS), {["Authorization"] = AUTH})
end
""",
    "list": """
request = function()
  return wrk.format("GET", "/v1/tickets?status=open", {["Authorization"] = AUTH})
end
""",
    "search": """
request = function()
  local q = words[math.random(1, #words)] .. "%20" .. words[math.random(1, #words)]
  return wrk.format("GET", "/v1/tickets?q=" .. q, {["Authorization"] = AUTH})
end
""",
    "patch": """
local priorities = {"low", "normal", "high", "urgent"}
request = function()
  local body = '{"priority": "' .. priorities[math.random(1, 4)] .. '"}'
  return wrk.format("PATCH", "/v1/tickets/T-" .. math.random(1, ROWS), {
    ["Authorization"] = AUTH, ["Content-Type"] = "application/json"}, body)
end
""",
}
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server not ready: {url}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def millis(text: str) -> float:
    """wrk's latency (``812.00us``, ``1.20ms``, ``2.00s``, ``1.50m``) in ms; NaN if none."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        return float("nan")
    return float(match.group(1)) * UNITS[match.group(2)]


def _field(pattern: str, output: str) -> str:
    match = re.search(pattern, output)
    return match.group(1) if match else ""


def load_with_wrk(
    base: str, scenario: str, args: argparse.Namespace, token: str, run: str
) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p99 ms, non-2xx answers and timeouts) of one wrk run."""
    script = (
        f'local AUTH = "Bearer {token}"\nlocal ROWS = {args.rows}\nlocal RUN = "{run}"\n'
        + LUA_COMMON
        + SCENARIOS[scenario]
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    output = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            handle.name,
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    # Lines of wrk's latency distribution (a thread-stats line may end in "79.50%").
    p50 = millis(_field(r"(?m)^\s+50%\s+(\S+)", output))
    p99 = millis(_field(r"(?m)^\s+99%\s+(\S+)", output))
    errors = int(_field(r"Non-2xx or 3xx responses:\s+(\d+)", output) or 0)
    errors += int(_field(r"timeout (\d+)", output) or 0)
    return rate, p50, p99, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario and app")
    parser.add_argument("--rows", type=int, default=20_000, help="tickets loaded before the runs")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of scenarios"
    )
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/tc_bench_api",
        help="scratch database (dropped and recreated)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/api.py needs wrk: apt-get install wrk")

    env = {
        **os.environ,
        **production_settings(args.database_url),
        "TC_API__WORKERS": str(args.workers),
    }
    os.environ.update(env)
    subprocess.run(["redis-cli", "-n", "5", "flushdb"], check=True, capture_output=True)
    subprocess.run(["redis-cli", "-n", "6", "flushdb"], check=True, capture_output=True)
    asyncio.run(recreate(args.database_url))
    from alembic import command

    from ticketcreator.cli import alembic_config

    command.upgrade(alembic_config(args.database_url), "head")  # type: ignore[arg-type]
    organization, token = asyncio.run(load(args.database_url, args.rows))

    api_port, ref_port = free_port(), free_port()
    logs = Path(tempfile.mkdtemp(prefix="tc-bench-api-"))
    api = subprocess.Popen(
        [sys.executable, "-m", "ticketcreator.cli", "serve", "--port", str(api_port)],
        cwd=ROOT,
        env=env,
        stdout=(logs / "api.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    reference = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "reference_api:app",
            "--app-dir",
            str(BENCH),
            "--port",
            str(ref_port),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--timeout-worker-healthcheck",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={
            **env,
            "REF_DATABASE_URL": dsn(args.database_url),
            "REF_ORGANIZATION_ID": str(organization),
        },
        stdout=(logs / "reference.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(f"http://127.0.0.1:{api_port}/health", api, logs / "api.log")
        wait_ready(f"http://127.0.0.1:{ref_port}/docs", reference, logs / "reference.log")
        print(
            f"\n{args.workers} uvicorn worker(s) each, wrk -t{args.threads} -c{args.connections}"
            f" -d{args.duration}s, {args.rows:,} tickets loaded; logs in {logs}\n"
        )
        header = f"{'call':<8}{'reference req/s':>16}{'p50':>9}{'p99':>9}"
        header += f"{'API req/s':>12}{'p50':>9}{'p99':>9}{'ratio':>8}"
        print(header)
        for scenario in args.scenarios.split(","):
            ref = load_with_wrk(f"http://127.0.0.1:{ref_port}", scenario, args, token, "ref")
            ours = load_with_wrk(f"http://127.0.0.1:{api_port}", scenario, args, token, "api")
            errors = f"   ({ours[3]} API / {ref[3]} reference failed)" if ours[3] or ref[3] else ""
            print(
                f"{scenario:<8}{ref[0]:>16.0f}{ref[1]:>8.1f}ms{ref[2]:>7.1f}ms"
                f"{ours[0]:>12.0f}{ours[1]:>7.1f}ms{ours[2]:>7.1f}ms"
                f"{ours[0] / ref[0]:>8.2f}{errors}",
                flush=True,
            )
    finally:
        stop(api)
        stop(reference)


if __name__ == "__main__":
    main()
