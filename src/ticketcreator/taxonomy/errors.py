"""Errors of the organization configuration API."""

from __future__ import annotations

from ticketcreator.core.errors import Conflict, UnprocessableEntity


class NameTaken(Conflict):
    slug = "name-taken"
    title = "The name is already used in this organization"


class InUse(Conflict):
    slug = "in-use"
    title = "Tickets still refer to this object"


class InvalidMember(UnprocessableEntity):
    slug = "invalid-member"
    title = "The user is not an agent of this organization"


class InvalidFieldDefinition(UnprocessableEntity):
    slug = "invalid-field-definition"
    title = "The custom field definition is inconsistent"


class InvalidCustomFields(UnprocessableEntity):
    slug = "invalid-custom-fields"
    title = "Custom field values do not match their definitions"
