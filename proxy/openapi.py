"""OpenAPI description of the proxy endpoints (SPEC section 3).

The proxy is served by the ASGI pipeline, not by Django views, so drf-spectacular cannot
see it. This postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``) adds
its paths, written out by hand from the SPEC; no URL pattern claims them.
"""

from __future__ import annotations

import copy
from typing import Any

from core.api.schema import AGENT_KEY_SCHEME

ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
ERROR_ENVELOPE = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "type": {"type": "string"},
                "request_id": {"type": "string"},
            },
            "required": ["code", "reason", "message", "type", "request_id"],
        }
    },
    "required": ["error"],
}

# SPEC 3.8: Anthropic's error shape on /v1/messages, the gateway's fields inside.
MESSAGES_ERROR_ENVELOPE = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["error"]},
        "error": copy.deepcopy(ERROR_ENVELOPE["properties"]["error"]),
    },
    "required": ["type", "error"],
}

SCHEMAS: dict[str, Any] = {
    "ResponsesRequest": {
        "type": "object",
        "description": "OpenAI's Responses request, stateless (SPEC 3.9; field by field: docs/providers.md).",
        "properties": {
            "model": {"type": "string", "description": "a model name or one of the tenant's aliases"},
            "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
            "instructions": {"type": "string"},
            "tools": {"type": "array", "items": {"type": "object"}},
            "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
            "max_output_tokens": {"type": "integer", "minimum": 1},
            "stream": {"type": "boolean", "default": False},
        },
        "required": ["model", "input"],
        "additionalProperties": True,
    },
    "MessagesErrorEnvelope": MESSAGES_ERROR_ENVELOPE,
    "MessagesRequest": {
        "type": "object",
        "description": "Anthropic's Messages request (SPEC 3.8; field by field: docs/providers.md).",
        "properties": {
            "model": {"type": "string", "description": "a model name or one of the tenant's aliases"},
            "max_tokens": {"type": "integer", "minimum": 1},
            "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
            "messages": {"type": "array", "items": {"type": "object"}},
            "tools": {"type": "array", "items": {"type": "object"}},
            "tool_choice": {"type": "object"},
            "stream": {"type": "boolean", "default": False},
        },
        "required": ["model", "max_tokens", "messages"],
        "additionalProperties": True,
    },
    "ChatMessage": {
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
            "content": {
                "nullable": True,
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
                "description": "text, or a list of content parts",
            },
        },
        "required": ["role"],
        "additionalProperties": True,
    },
    "ChatCompletionRequest": {
        "type": "object",
        "description": "OpenAI's chat completion request; fields not listed are passed to the provider.",
        "properties": {
            "model": {"type": "string", "description": "a model name or one of the tenant's aliases"},
            "messages": {"type": "array", "items": {"$ref": "#/components/schemas/ChatMessage"}},
            "stream": {"type": "boolean", "default": False},
            "max_tokens": {"type": "integer"},
            "max_completion_tokens": {"type": "integer"},
            "temperature": {"type": "number"},
        },
        "required": ["model", "messages"],
        "additionalProperties": True,
    },
    "Usage": {
        "type": "object",
        "properties": {
            "prompt_tokens": {"type": "integer"},
            "completion_tokens": {"type": "integer"},
            "total_tokens": {"type": "integer"},
        },
    },
    "ChatCompletion": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "example": "chat.completion"},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "message": {"$ref": "#/components/schemas/ChatMessage"},
                        "finish_reason": {"type": "string", "nullable": True},
                    },
                },
            },
            "usage": {"$ref": "#/components/schemas/Usage"},
        },
    },
    "EmbeddingRequest": {
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        },
        "required": ["model", "input"],
        "additionalProperties": True,
    },
    "EmbeddingList": {
        "type": "object",
        "properties": {
            "object": {"type": "string", "example": "list"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "object": {"type": "string", "example": "embedding"},
                        "index": {"type": "integer"},
                        "embedding": {"type": "array", "items": {"type": "number"}},
                    },
                },
            },
            "model": {"type": "string"},
            "usage": {"$ref": "#/components/schemas/Usage"},
        },
    },
    "ModelList": {
        "type": "object",
        "properties": {
            "object": {"type": "string", "example": "list"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"type": "string", "example": "model"},
                        "created": {"type": "integer"},
                        "owned_by": {"type": "string"},
                    },
                },
            },
        },
    },
}

SECURITY_SCHEMES = {
    "agentKey": AGENT_KEY_SCHEME,
    "agentKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An agent key in X-API-Key (under /apps/{app_slug}: the app's key_name and key_location).",
    },
    "jwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT verified by the app's JWT settings; needs an app context (path or X-App-Id).",
    },
}
PROXY_SECURITY = [{"agentKey": []}, {"agentKeyHeader": []}, {"jwt": []}]


def _header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": description}


REQUEST_HEADERS = [
    _header("X-App-Id", "the app (id or slug) for a tenant-scoped key or a JWT on /v1/…"),
    _header("X-User-Email", "the end user, read when the app's identity_header_mode is on"),
    _header("X-Conversation-Id", "groups requests into conversations: 1-128 of [A-Za-z0-9._:-]"),
    _header("X-Request-ID", "the client's own request id, kept as client_request_id"),
]
RESPONSE_HEADERS = {
    "X-Request-ID": {"schema": {"type": "string"}, "description": "the gateway's req_ id of this request"},
    "X-Agent-ID": {"schema": {"type": "string"}, "description": "the agent the request acted as"},
    "X-RateLimit-Limit-Requests": {"schema": {"type": "integer"}},
    "X-RateLimit-Remaining-Requests": {"schema": {"type": "integer"}},
    "X-RateLimit-Reset-Requests": {"schema": {"type": "string"}},
}
ERRORS = {
    "400": "invalid_request or guardrail_violation",
    "401": "unauthorized: missing, unknown, revoked or expired credential, or an invalid token",
    "403": "forbidden (model_not_allowed, scope_missing, …) or app_mismatch",
    "404": "not_found (unknown_app) or model_not_found",
    "413": "request_too_large",
    "429": "rate_limited or budget_exceeded; carries Retry-After",
    "502": "upstream_error",
    "504": "upstream_timeout",
}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _operation(
    operation_id: str, summary: str, scope: str, response: dict[str, Any], request: str | None,
    *, error_ref: dict[str, str] = ERROR_REF, format_name: str = "OpenAI-compatible",
) -> dict:  # fmt: skip
    responses: dict[str, Any] = {"200": {"description": "OK", "headers": RESPONSE_HEADERS, "content": response}}
    for status, description in ERRORS.items():
        responses[status] = {
            "description": description,
            "headers": {"X-Request-ID": RESPONSE_HEADERS["X-Request-ID"]},
            "content": {"application/json": {"schema": error_ref}},
        }
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": f"{format_name}; served by the gateway's proxy pipeline. Key scope: `{scope}`.",
        "tags": ["proxy"],
        "security": PROXY_SECURITY,
        "parameters": list(REQUEST_HEADERS),
        "responses": responses,
    }
    if request:
        operation["requestBody"] = {"required": True, "content": _json(request)}
    return operation


def proxy_operations() -> dict[str, dict[str, Any]]:
    chat_response = {
        **_json("ChatCompletion"),
        "text/event-stream": {
            "schema": {"type": "string", "description": "with stream: true, OpenAI chunks ending data: [DONE]"}
        },
    }
    messages_response = {
        "application/json": {"schema": {"type": "object", "description": "Anthropic's message object"}},
        "text/event-stream": {"schema": {"type": "string", "description": "with stream: true, Anthropic's events"}},
    }
    responses_response = {
        "application/json": {"schema": {"type": "object", "description": "OpenAI's response object"}},
        "text/event-stream": {"schema": {"type": "string", "description": "with stream: true, the typed events"}},
    }
    return {
        "/v1/chat/completions": {
            "post": _operation(
                "proxy_chat_completions", "Chat completion", "chat:completions", chat_response, "ChatCompletionRequest"
            )
        },
        "/v1/embeddings": {
            "post": _operation(
                "proxy_embeddings", "Embeddings", "embeddings", _json("EmbeddingList"), "EmbeddingRequest"
            )
        },
        "/v1/models": {
            "get": _operation(
                "proxy_models", "Models and aliases this credential may use", "models:read", _json("ModelList"), None
            )
        },
        "/v1/messages": {
            "post": _operation(
                "proxy_messages",
                "Anthropic Messages",
                "chat:completions",
                messages_response,
                "MessagesRequest",
                error_ref={"$ref": "#/components/schemas/MessagesErrorEnvelope"},
                format_name="Anthropic's Messages API (SPEC 3.8)",
            )
        },
        "/v1/responses": {
            "post": _operation(
                "proxy_responses",
                "OpenAI Responses",
                "chat:completions",
                responses_response,
                "ResponsesRequest",
                format_name="OpenAI's Responses API, stateless (SPEC 3.9)",
            )
        },
    }


def proxy_paths_add(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the proxy paths, plain and under an app context."""
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("ErrorEnvelope", ERROR_ENVELOPE)
    for name, schema in SCHEMAS.items():
        schemas.setdefault(name, schema)
    schemes = components.setdefault("securitySchemes", {})
    for name, scheme in SECURITY_SCHEMES.items():
        schemes.setdefault(name, scheme)
    slug = {"name": "app_slug", "in": "path", "required": True, "schema": {"type": "string"}}
    paths = result.setdefault("paths", {})
    for path, item in proxy_operations().items():
        paths[path] = item
        app_item = copy.deepcopy(item)
        for operation in app_item.values():
            operation["operationId"] += "_app"
            operation["parameters"] = [slug, *operation["parameters"]]
            operation["description"] += " App context: the app named by the path (SPEC 3.2)."
        paths[f"/apps/{{app_slug}}{path}"] = app_item
    tags = result.setdefault("tags", [])
    if not any(tag.get("name") == "proxy" for tag in tags):
        tags.append({"name": "proxy", "description": "The OpenAI-compatible proxy (SPEC section 3)."})
    return result
