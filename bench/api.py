"""Request-path benchmark: the real API against a bare FastAPI + asyncpg app, side by side.

One run starts both servers with the same number of uvicorn workers against the same scratch
PostgreSQL database, and loads each with the same generator (``wrk``, in its own process) for
create, get, list (status filter), search (``q=``) and PATCH. The API runs as in production
(``ticketcreator serve``: authentication, tenant isolation, rate limits with a budget the load
cannot reach, request ids, events and outbox, audit, JSON logs at INFO); the reference
(bench/reference_api.py) runs the least SQL for the same result. It prints req/s, p50 and p99
of each, and the ratio of the API's throughput to the reference's; then the CPU each request
cost the server's processes and PostgreSQL's, read from ``/proc`` around each run, which says
where a call's time goes. On a shared machine both move from run to run, and a slow spell
can fall on one server's run only: ``--rounds N`` runs each scenario N times on each server,
in turn, and prints the pair whose ratio is the median, with every round's ratio. Compare
two versions of the code by runs that alternate them, several times over.

    .venv/bin/python bench/api.py [--workers 2] [--connections 20] [--duration 10] [--rounds 1]

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
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, int]]:
    """Every process's parent, command name and CPU ticks, its reaped children's included."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # utime, stime, cutime, cstime (proc(5): fields 14 to 17)
        found[int(entry)] = (int(fields[1]), name, sum(int(each) for each in fields[11:15]))
    return found


def cpu_seconds(root: int | None) -> float:
    """CPU seconds used so far by the process ``root`` and its descendants or, for None, by
    PostgreSQL's processes."""
    processes = _processes()
    if root is None:
        roots = {
            pid
            for pid, (parent, name, _) in processes.items()
            if name == "postgres" and processes.get(parent, (0, "", 0))[1] != "postgres"
        }
    else:
        roots = {root}
    total, seen = 0, set(roots)
    while roots:
        total += sum(processes[pid][2] for pid in roots if pid in processes)
        roots = {pid for pid, (parent, _, _) in processes.items() if parent in roots} - seen
        seen |= roots
    return total / CLOCK_TICKS


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
) -> tuple[float, float, float, int, int]:
    """(req/s, p50 ms, p99 ms, non-2xx answers and timeouts, requests) of one wrk run."""
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
    requests = int(_field(r"(\d+) requests in", output) or 0)
    return rate, p50, p99, errors, requests


def measured(
    server: subprocess.Popen[bytes],
    port: int,
    run: str,
    scenario: str,
    args: argparse.Namespace,
    token: str,
) -> tuple[tuple[float, float, float, int, int], float, float]:
    """A wrk run on ``server`` (``run`` names it in idempotency keys), and the CPU
    microseconds per request of the server and of PostgreSQL."""
    before = cpu_seconds(server.pid), cpu_seconds(None)
    result = load_with_wrk(f"http://127.0.0.1:{port}", scenario, args, token, run)
    after = cpu_seconds(server.pid), cpu_seconds(None)
    per_request = 1e6 / max(result[4], 1)
    return (
        result,
        (after[0] - before[0]) * per_request,
        (after[1] - before[1]) * per_request,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario and app")
    parser.add_argument("--rows", type=int, default=20_000, help="tickets loaded before the runs")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of each scenario on each server, in turn; the median pair's figures print",
    )
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
        costs = []
        for scenario in args.scenarios.split(","):
            pairs = []
            for round_ in range(args.rounds):  # the reference, then the API, in turn
                ref, ref_cpu, ref_pg = measured(
                    reference, ref_port, f"ref{round_}", scenario, args, token
                )
                ours, api_cpu, api_pg = measured(
                    api, api_port, f"api{round_}", scenario, args, token
                )
                pairs.append((ours[0] / ref[0], ref, ours, (ref_cpu, ref_pg, api_cpu, api_pg)))
            pairs.sort(key=lambda pair: pair[0])
            ratio, ref, ours, cpu = pairs[(len(pairs) - 1) // 2]  # the median pair (lower one)
            costs.append((scenario, *cpu))
            errors = f"   ({ours[3]} API / {ref[3]} reference failed)" if ours[3] or ref[3] else ""
            each = ""
            if args.rounds > 1:
                each = "   (rounds: " + ", ".join(f"{pair[0]:.2f}" for pair in pairs) + ")"
            print(
                f"{scenario:<8}{ref[0]:>16.0f}{ref[1]:>8.1f}ms{ref[2]:>7.1f}ms"
                f"{ours[0]:>12.0f}{ours[1]:>7.1f}ms{ours[2]:>7.1f}ms"
                f"{ratio:>8.2f}{errors}{each}",
                flush=True,
            )
        print("\nCPU per request, in microseconds (server processes + PostgreSQL)")
        print(f"{'call':<8}{'reference':>10}{'+ PG':>8}{'API':>10}{'+ PG':>8}{'total ratio':>13}")
        for scenario, ref_cpu, ref_pg, api_cpu, api_pg in costs:
            print(
                f"{scenario:<8}{ref_cpu:>10.0f}{ref_pg:>8.0f}{api_cpu:>10.0f}{api_pg:>8.0f}"
                f"{(ref_cpu + ref_pg) / (api_cpu + api_pg):>13.2f}"
            )
    finally:
        stop(api)
        stop(reference)


if __name__ == "__main__":
    main()
