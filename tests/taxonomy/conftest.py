"""The members used by the configuration tests are those of the tickets tests."""

from tests.tickets.conftest import admin, agent, outsider, reporter, viewer

__all__ = ["admin", "agent", "outsider", "reporter", "viewer"]
