"""Roles and permissions: the one table that says who may do what.

A route declares the permission it needs; a caller passes if their role in the organization
grants it and, for API keys, the key's scopes include it. The table is rendered into the API
documentation (see :func:`permission_table_markdown`).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"
    REPORTER = "reporter"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        """Seniority: a member may grant, change or remove only roles up to their own rank."""
        return _RANKS[self]

    def may_manage(self, other: Role) -> bool:
        """Whether a member with this role may grant ``other`` or act on a member holding it."""
        return other.rank <= self.rank


_RANKS = {Role.VIEWER: 0, Role.REPORTER: 1, Role.AGENT: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Permission(StrEnum):
    ACCOUNT_SELF = "account:self"
    TICKETS_READ = "tickets:read"
    TICKETS_WRITE = "tickets:write"
    TICKETS_CREATE = "tickets:create"
    TICKETS_DELETE = "tickets:delete"
    TICKETS_PURGE = "tickets:purge"
    COMMENTS_WRITE = "comments:write"
    COMMENTS_INTERNAL = "comments:internal"
    CAPTURES_WRITE = "captures:write"
    ATTACHMENTS_READ = "attachments:read"
    CONFIG_READ = "config:read"
    CONFIG_MANAGE = "config:manage"
    AI_MANAGE = "ai:manage"
    MEMBERS_READ = "members:read"
    # Other members' e-mail addresses in the member list; an organization may extend it to
    # every role (setting ``member_emails_visible_to_all``).
    MEMBERS_EMAILS = "members:emails"
    MEMBERS_MANAGE = "members:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    AUDIT_READ = "audit:read"
    ORGANIZATION_MANAGE = "organization:manage"
    EVENTS_MANAGE = "events:manage"


P = Permission

_READ = {P.ACCOUNT_SELF, P.TICKETS_READ, P.ATTACHMENTS_READ, P.CONFIG_READ, P.MEMBERS_READ}
_REPORT = _READ | {P.TICKETS_CREATE, P.COMMENTS_WRITE, P.CAPTURES_WRITE}
_AGENT = _REPORT | {P.TICKETS_WRITE, P.TICKETS_DELETE, P.COMMENTS_INTERNAL, P.MEMBERS_EMAILS}
_ADMIN = _AGENT | {
    P.TICKETS_PURGE,
    P.CONFIG_MANAGE,
    P.AI_MANAGE,
    P.MEMBERS_MANAGE,
    P.API_KEYS_MANAGE,
    P.AUDIT_READ,
    P.EVENTS_MANAGE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(_ADMIN | {P.ORGANIZATION_MANAGE}),
    Role.ADMIN: frozenset(_ADMIN),
    Role.AGENT: frozenset(_AGENT),
    Role.REPORTER: frozenset(_REPORT),
    Role.VIEWER: frozenset(_READ),
}

# What an API key may be granted: the machine-client subset (no account administration, and
# no `account:self`: a key is not a person, it has no profile, password or sessions).
API_KEY_SCOPES: frozenset[Permission] = frozenset(
    {
        P.TICKETS_READ,
        P.TICKETS_CREATE,
        P.TICKETS_WRITE,
        P.COMMENTS_WRITE,
        P.CAPTURES_WRITE,
        P.ATTACHMENTS_READ,
        P.CONFIG_READ,
    }
)

# Reporters see only the tickets they reported; the rule is enforced in the tickets repository.
OWN_TICKETS_ONLY: frozenset[Role] = frozenset({Role.REPORTER})


def permission_table_markdown() -> str:
    """The role → permission table as Markdown, for the API description."""
    roles = list(Role)
    header = "| permission | " + " | ".join(roles) + " |"
    rule = "|---|" + "---|" * len(roles)
    rows = [
        f"| `{permission}` | "
        + " | ".join("✓" if permission in ROLE_PERMISSIONS[role] else "" for role in roles)
        + " |"
        for permission in Permission
    ]
    return "\n".join([header, rule, *rows])
