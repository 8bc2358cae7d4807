"""The OpenAPI document tells the truth: it is valid, every operation is named and has a
typed answer, every error response is the error envelope the app really sends, and nothing
of FastAPI's unused 422 body is left. (The generated client in tests/apiclient.py checks the
answers themselves: tests/test_web_api.py.)"""

from __future__ import annotations

import json
import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from smartsupport import api_docs
from smartsupport.api_docs import ErrorBody
from smartsupport.app import create_app
from smartsupport.settings import Settings

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
# (operationId, status) whose body is not the error envelope, and why.
OTHER_ERROR_BODIES = {("getReadiness", "503"): "the readiness report, with each backend's state"}
# (operationId, status) of errors the app sends without Retry-After, and why.
NO_RETRY_AFTER = {
    ("receiveHelpdeskWebhook", "503"): "the helpdesk retries on its own schedule",
    ("receiveWhatsAppWebhook", "503"): "Meta retries on its own schedule",
    ("receiveTwilioWebhook", "503"): "Twilio retries on its own schedule",
}
# Operations that cannot fail, and why.
NO_ERRORS = {"getHealth": "the process answers, or nothing does"}
# Operations that read their body themselves (not FastAPI's 400 invalid_json), and why.
# Operations whose answer is a file, not JSON: documented as binary (attachments.md).
FILES = {"downloadAttachment", "downloadInboxAttachment"}
OWN_BODY = {
    "login": "a form or JSON; broken JSON is 422 invalid_json",
    "receiveHelpdeskWebhook": "the provider's payload, checked against its signature first",
    "receiveTwilioWebhook": "Twilio's form, checked against its signature first",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), secret_key="k")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def spec(client):
    return client.get("/openapi.json").json()


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def json_schema(response):
    return response.get("content", {}).get("application/json", {}).get("schema")


def test_the_document_is_valid_openapi(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_operation_has_an_explicit_camel_case_operation_id(spec):
    ids = [operation.get("operationId") for _, operation in operations(spec)]
    assert len(ids) == len(set(ids)) > 40
    generated = [i for i in ids if not i or not re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i)]
    assert not generated, f"not explicit camelCase operation ids: {generated}"


def test_a_route_without_an_operation_id_stops_the_document_from_being_built():
    app = FastAPI(generate_unique_id_function=api_docs.operation_id)
    router = APIRouter()

    @router.get("/unnamed")
    async def unnamed() -> None: ...

    @router.get("/page", include_in_schema=False)  # pages stay out of the document
    async def page() -> None: ...

    with pytest.raises(ValueError, match="GET.*/unnamed has no operation_id"):
        app.include_router(router)  # older FastAPI names the routes here,
        api_docs.openapi(app)  # newer when the document is built


def test_every_operation_answers_a_named_schema_or_204(spec):
    components = spec["components"]["schemas"]
    for name, operation in operations(spec):
        success = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert success, f"{name} documents no 2xx answer"
        for status, response in success.items():
            schema = json_schema(response)
            if status == "204":
                assert "content" not in response, f"{name}: a 204 has no body"
                continue
            if operation["operationId"] in FILES:
                binary = response["content"]["application/octet-stream"]["schema"]
                assert binary == {"type": "string", "format": "binary"}, name
                continue
            assert schema is not None, f"{name} {status} has no JSON schema"
            refs = [schema.get("$ref"), schema.get("items", {}).get("$ref")]
            refs += [option.get("$ref") for option in schema.get("anyOf", [])]
            named = [r.rsplit("/", 1)[1] for r in refs if r]
            assert named, f"{name} {status} answers an anonymous schema: {schema}"
            for model in named:
                assert components[model].get("additionalProperties") is False, (
                    f"{model} ({name}) must list its fields exactly (extra='forbid')"
                )


def test_every_error_response_is_the_error_envelope(spec):
    for name, operation in operations(spec):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert errors or operation["operationId"] in NO_ERRORS, f"{name} documents no error"
        for status, response in errors.items():
            if (operation["operationId"], status) in OTHER_ERROR_BODIES:
                continue
            assert json_schema(response) == ERROR_BODY, f"{name} {status}"
            example = response["content"]["application/json"]["example"]
            ErrorBody.model_validate(example)
            if status in ("429", "503") and (operation["operationId"], status) not in (
                NO_RETRY_AFTER
            ):
                assert "Retry-After" in response.get("headers", {}), f"{name} {status}"


def test_operations_that_take_a_body_document_its_400_and_422(spec):
    for name, operation in operations(spec):
        if "requestBody" in operation and operation["operationId"] not in OWN_BODY:
            assert {"400", "422"} <= set(operation["responses"]), name


def test_fastapis_validation_error_body_is_gone_and_schema_names_are_plain(spec):
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text and "ValidationError" not in text
    names = list(spec["components"]["schemas"])
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", n) for n in names), names
    assert {"MessageIn", "AgentMessageIn", "ErrorBody", "ErrorDetail"} <= set(names)


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        (
            (
                "POST",
                "/api/v1/conversations",
                {"content": b"{", "headers": {"content-type": "application/json"}},
            ),
            400,
            "invalid_json",
        ),  # noqa: E501
        (("POST", "/api/v1/conversations", {"json": {}}), 422, "invalid_input"),
        (("GET", "/api/v1/conversations/x/messages", {}), 401, "unauthorized"),
        (("GET", "/api/v1/inbox/queue", {}), 401, "not_authenticated"),
        (("GET", "/nowhere", {}), 404, "not_found"),
        (("POST", "/api/v1/webhooks/zendesk/nope", {"content": b"{}"}), 404, "not_found"),
        (("POST", "/api/v1/webhooks/other/demo", {"content": b"{}"}), 422, "invalid_input"),
    ],
)
def test_the_app_really_answers_errors_with_the_envelope(client, request_args, status, code):
    method, url, kwargs = request_args
    response = client.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    assert ErrorBody.model_validate(response.json()).error.code == code


@pytest.mark.parametrize("operation_id", ["getAnalyticsReport", "listResolutionChecks"])
def test_the_shared_analytics_filters_are_listed_on_each_operation(spec, operation_id):
    """The analytics routes take their filters from one dependency
    (``analytics_api.checked_filters``); the document still lists each as a query parameter
    of every route, with its limit."""
    found = next(op for _, op in operations(spec) if op["operationId"] == operation_id)
    query = {p["name"]: p for p in found["parameters"] if p["in"] == "query"}
    assert list(query) == ["from", "to", "channel", "language", "intent"]
    assert not any(p["required"] for p in query.values())
    limits = {name: p["schema"]["anyOf"][0]["maxLength"] for name, p in query.items()}
    assert limits == {"from": 40, "to": 40, "channel": 64, "language": 64, "intent": 64}
    assert [p["name"] for p in found["parameters"] if p["in"] == "path"] == ["workspace_id"]
