"""Chaos run shared by the test and ``bench/integrations_chaos.py``.

Tickets are created and moved through statuses through the API while the fake GitHub fails
a share of all calls (500, some after the issue was made; 429 with ``Retry-After``) and the
worker is killed (SIGKILL) and restarted. The beat's sweeper runs alongside. The run ends
when every ticket has exactly one issue whose state matches the ticket's final status.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integrations.fake_vendor import FakeGitHub
from tests.support.services import Worker

CLOSED = {"resolved", "closed"}


@dataclass
class ChaosReport:
    tickets: int
    issues: int = 0
    duplicates: int = 0
    missing: int = 0
    wrong_state: int = 0
    status_changes: int = 0
    kills: int = 0
    vendor_calls: int = 0
    injected_500: int = 0
    injected_429: int = 0
    seconds: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.issues == self.tickets
            and self.duplicates == 0
            and self.missing == 0
            and self.wrong_state == 0
        )

    def lines(self) -> list[str]:
        return [
            f"tickets {self.tickets}, issues {self.issues}, duplicates {self.duplicates}, "
            f"missing {self.missing}, final state wrong {self.wrong_state}",
            f"status changes {self.status_changes}, worker kills {self.kills}, "
            f"vendor calls {self.vendor_calls} "
            f"(500: {self.injected_500}, 429: {self.injected_429})",
            f"converged in {self.seconds:.1f} s; health {self.health}",
        ]


def kill_and_restart(worker: Worker) -> None:
    """SIGKILL the whole worker (no warm shutdown: in-flight tasks die) and start it again."""
    assert worker.process is not None
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    worker.process = None
    worker.start()


def serve_integrations_only(worker: Worker) -> None:
    """The worker serves the integrations queue alone, as a deployment's integrations
    workers do (AI triage of the same tickets would otherwise hold both processes)."""
    from ticketcreator.core.tasks import celery_app

    with celery_app.connection() as connection:
        for queue in ("ai", "media"):
            celery_app.control.cancel_consumer(
                queue, destination=[worker.name], reply=True, timeout=10, connection=connection
            )


async def _sweeper(stop: asyncio.Event, interval: float) -> None:
    from ticketcreator.integrations import sync

    while not stop.is_set():
        await sync.sweep()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def _plan(index: int) -> list[str]:
    """The statuses ticket ``index`` goes through after ``open``."""
    if index % 3 == 0:
        return ["in_progress", "resolved", "open"]  # closed, then reopened
    if index % 3 == 1:
        return ["in_progress", "resolved"]
    return ["waiting"]


async def run(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    fake: FakeGitHub,
    worker: Worker,
    *,
    tickets: int,
    kills: int = 2,
    failure_rate: float = 0.3,
    timeout: float = 600.0,
) -> ChaosReport:
    report = ChaosReport(tickets=tickets)
    body = {
        "provider": "github",
        "name": "chaos",
        "base_url": fake.base_url,
        "config": {"owner": "acme", "repo": "chaos"},
        "secrets": {"token": FakeGitHub.TOKEN, "webhook_secret": "s"},
    }
    created = await client.post("/v1/integrations", json=body, headers=headers)
    assert created.status_code == 201, created.text
    installation_id = created.json()["id"]
    serve_integrations_only(worker)
    fake.chaos_rate = failure_rate
    stop = asyncio.Event()
    sweeper = asyncio.create_task(_sweeper(stop, 1.0))
    started = time.monotonic()
    kill_at = {tickets * (k + 1) // (kills + 1) for k in range(kills)}
    final: dict[str, str] = {}
    try:
        for index in range(tickets):
            if index in kill_at:
                kill_and_restart(worker)
                serve_integrations_only(worker)
                report.kills += 1
            response = await client.post(
                "/v1/tickets", json={"title": f"chaos {index}"}, headers=headers
            )
            assert response.status_code == 201, response.text
            ticket = response.json()
            status = "open"
            for status in _plan(index):
                moved = await client.patch(
                    f"/v1/tickets/{ticket['id']}", json={"status": status}, headers=headers
                )
                assert moved.status_code == 200, moved.text
                report.status_changes += 1
            final[ticket["id"]] = status
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _score(report, fake, final)
            if report.ok:
                break
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await sweeper
        fake.chaos_rate = 0.0
    report.seconds = time.monotonic() - started
    _score(report, fake, final)
    view = await client.get(f"/v1/integrations/{installation_id}", headers=headers)
    health = view.json()["health"]
    report.health = {k: health[k] for k in ("failures_total", "rate_limit_waits", "pending")}
    with fake.lock:
        report.vendor_calls = len(fake.calls)
        report.injected_500 = sum(1 for c in fake.calls if c[3] == 500)
        report.injected_429 = sum(1 for c in fake.calls if c[3] == 429)
    return report


def _score(report: ChaosReport, fake: FakeGitHub, final: dict[str, str]) -> None:
    issues = fake.issues_of("acme/chaos")
    by_ticket: collections.Counter[str] = collections.Counter()
    state: dict[str, str] = {}
    for issue in issues:
        body = issue.get("body") or ""
        ticket_id = body.split("ticketcreator:ticket:", 1)[-1].split(" ", 1)[0]
        by_ticket[ticket_id] += 1
        state[ticket_id] = issue["state"]
    report.issues = len(issues)
    report.duplicates = sum(n - 1 for n in by_ticket.values() if n > 1)
    report.missing = sum(1 for t in final if t not in by_ticket)
    report.wrong_state = sum(
        1
        for t, status in final.items()
        if t in state and (state[t] == "closed") != (status in CLOSED)
    )
