"""AI providers: the embedded ``local`` models and the cloud/HTTP APIs behind one interface.

The triage pipeline builds a :class:`Router` from the AI configuration, the HTTP providers of
:func:`build_http_providers`, its own ``local`` provider and a :class:`SpendLedger`, then
asks it for validated pydantic objects with :meth:`Router.complete`.
"""

from ticketcreator.ai.providers.base import (
    Completion,
    CompletionRequest,
    InvalidOutput,
    Outcome,
    Provider,
    ProviderError,
    ProviderFailure,
    ProviderTimeout,
    RateLimited,
    Usage,
    output_schema,
    schema_name,
    validate_output,
)
from ticketcreator.ai.providers.costs import (
    InMemorySpendLedger,
    SpendEntry,
    SpendLedger,
    SpentQuery,
    call_cost,
    estimate_cost,
    over_budget,
)
from ticketcreator.ai.providers.router import (
    Attempt,
    Decision,
    Prompt,
    Routed,
    Router,
    RoutingFailed,
    build_http_providers,
)

__all__ = [
    "Attempt",
    "Completion",
    "CompletionRequest",
    "Decision",
    "InMemorySpendLedger",
    "InvalidOutput",
    "Outcome",
    "Prompt",
    "Provider",
    "ProviderError",
    "ProviderFailure",
    "ProviderTimeout",
    "RateLimited",
    "Routed",
    "Router",
    "RoutingFailed",
    "SpendEntry",
    "SpendLedger",
    "SpentQuery",
    "Usage",
    "build_http_providers",
    "call_cost",
    "estimate_cost",
    "output_schema",
    "over_budget",
    "schema_name",
    "validate_output",
]
