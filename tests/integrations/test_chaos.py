"""Chaos: 30 % of vendor calls fail (500 or 429) and the worker is killed twice; every ticket
still ends with exactly one issue in the right state (the full run: bench/integrations_chaos.py)."""

from __future__ import annotations

import httpx

from tests.integrations import chaos
from tests.integrations.fake_vendor import FakeGitHub
from tests.support.factories import Member
from tests.support.services import Worker


async def test_chaos_exactly_one_issue_per_ticket_and_every_status_delivered(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub, celery_worker: Worker
) -> None:
    report = await chaos.run(
        client, admin.headers, fake_github, celery_worker, tickets=30, kills=2, timeout=240
    )
    print("\n".join(report.lines()))
    assert report.ok, report.lines()
    assert report.kills == 2
    assert report.injected_500 > 0
    assert report.injected_429 > 0
    assert fake_github.violations == []
