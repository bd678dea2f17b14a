"""Organizations (tenants), users, memberships, authentication and authorization."""
