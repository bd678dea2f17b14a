"""Requests and responses checked against a vendor's own OpenAPI description.

The descriptions are the offline copies in ``/work/shared/contracts`` (see its README). A
request is matched to its operation by method and path template; its path and query
parameters (coerced from text as the schema's type says), required headers and JSON body are
validated with ``openapi-schema-validator``'s OAS 3.0 validator, whose ``$ref``s resolve in
the description itself. Responses of the fake vendors are validated the same way, so the
fakes answer only in documented shapes.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

CONTRACTS = Path(os.environ.get("TC_CONTRACTS_DIR", "/work/shared/contracts"))
GITHUB_SPEC = CONTRACTS / "github" / "github-issues.openapi.json"
JIRA_SPEC = CONTRACTS / "jira" / "jira-platform-issues.openapi.json"
ADF_SCHEMA = CONTRACTS / "jira" / "adf" / "adf-full.schema.json"
GITHUB_WEBHOOK_EXAMPLES = CONTRACTS / "github" / "examples" / "webhooks"
_METHODS = ("get", "put", "post", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.spec.get("operationId"))


class Contract:
    def __init__(self, path: Path) -> None:
        self.document: dict[str, Any] = json.loads(path.read_text())
        self.operations: list[Operation] = []
        for template, item in self.document["paths"].items():
            regex = "^" + re.sub(r"\{[^}/]+\}", r"([^/]+)", template) + "$"
            for method in _METHODS:
                if method in item:
                    self.operations.append(
                        Operation(method.upper(), template, re.compile(regex), item[method])
                    )
        # literal paths first (``/issue/createmeta/...`` before ``/issue/{key}/...``)
        self.operations.sort(key=lambda op: op.template.count("{"))

    def _resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _validate(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        rooted = {**schema, "components": self.document.get("components", {})}
        validator = OAS30Validator(rooted)
        return [f"{where}: {error.message}" for error in validator.iter_errors(value)][:5]

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for operation in self.operations:
            if operation.method != method.upper():
                continue
            found = operation.pattern.match(path)
            if found:
                names = re.findall(r"\{([^}/]+)\}", operation.template)
                return operation, dict(zip(names, found.groups(), strict=True))
        return None

    def check_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        content_type: str,
    ) -> tuple[str | None, list[str]]:
        """The operation id (None if the description has none) and every violation."""
        matched = self.match(method, path)
        if matched is None:
            return None, []
        operation, path_values = matched
        problems: list[str] = []
        for raw in operation.spec.get("parameters", []):
            parameter = self._resolve(raw)
            name, place = parameter["name"], parameter["in"]
            source: Mapping[str, str] = {
                "path": path_values,
                "query": query,
                "header": {k.lower(): v for k, v in headers.items()},
            }.get(place, {})
            key = name.lower() if place == "header" else name
            if key not in source:
                if parameter.get("required"):
                    problems.append(f"{place} parameter {name!r} is required")
                continue
            schema = self._resolve(parameter.get("schema", {}))
            problems += self._validate(schema, _coerce(source[key], schema), f"{place} {name}")
        known = {self._resolve(p)["name"] for p in operation.spec.get("parameters", [])}
        problems += [f"query parameter {q!r} is not documented" for q in query if q not in known]
        request_body = self._resolve(operation.spec.get("requestBody")) or {}
        media = content_type.split(";")[0].strip()
        documented = request_body.get("content", {})
        if request_body.get("required") and not body:
            problems.append("a request body is required")
        if body:
            if media not in documented:
                problems.append(f"body media type {media!r} not documented ({list(documented)})")
            elif media == "application/json":
                schema = documented[media].get("schema", {})
                problems += self._validate(schema, json.loads(body), "body")
        return operation.operation_id, problems

    def check_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        matched = self.match(method, path)
        if matched is None:
            return []
        responses = matched[0].spec.get("responses", {})
        response = self._resolve(responses.get(str(status)) or responses.get("default") or {})
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None or body is None:
            return []
        return self._validate(schema, body, f"response {status}")

    def example(self, method: str, template: str, status: int) -> Any:
        """A documented response example of an operation (a fresh copy)."""
        item = self.document["paths"][template][method.lower()]
        content = self._resolve(item["responses"][str(status)])["content"]["application/json"]
        if "example" in content:
            value = content["example"]
            return json.loads(value) if isinstance(value, str) else copy.deepcopy(value)
        example = self._resolve(next(iter(content["examples"].values())))
        return copy.deepcopy(example["value"])


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind == "array":
        return value.split(",")
    return value


@cache
def github() -> Contract:
    return Contract(GITHUB_SPEC)


@cache
def jira() -> Contract:
    return Contract(JIRA_SPEC)


@cache
def adf_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(ADF_SCHEMA.read_text())
    return schema


def github_webhook_schema(event: str, action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``x-webhooks`` payload schema of ``<event>-<action>`` and the components."""
    document = github().document
    name = f"{event.replace('_', '-')}-{action}"
    entry = document["x-webhooks"][name]["post"]
    schema = entry["requestBody"]["content"]["application/json"]["schema"]
    return schema, document["components"]
