"""Property-based checks of the REST API against its own OpenAPI schema (schemathesis).

For every operation of the served schema, schemathesis generates valid requests and requests
that violate the schema. Each response must be no server error and have a documented status
code and content type, a body that matches the documented schema, and a 4xx for an invalid
request. API keys are configured, so requests without a key must be rejected too. The
examples per operation and mode are bounded so that the run takes under two minutes on two
cores.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from litestar.testing import TestClient

from api_service.app import create_app

from .test_api import api_settings

API_KEY = "k-5c0e6a2f9d1b3e47"
EXAMPLES = 40
OPERATIONS = [
    "/api/health",
    "/api/deployment-manager/overview",
    "/api/deployment-manager/sites/{site_id}",
    "/api/netops/deployments",
    "/api/netops/deployment-trends",
    "/api/netops/failures",
    "/api/netops/config-drift",
    "/api/netops/device-health",
    "/api/5g/registration-kpis",
    "/api/5g/registration-failures",
    "/api/5g/session-kpis",
    "/api/5g/cell-throughput",
    "/api/5g/nf-health",
    "/api/stats/summary",
    "/api/alerts",
]
# /api/health takes no parameter and no key, so no request to it can violate the schema.
NEGATIVE_OPERATIONS = [path for path in OPERATIONS if path != "/api/health"]

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def api_schema(platform_world):
    app = create_app(api_settings(platform_world.settings.warehouse_dir, api_keys=(API_KEY,)))
    # The lifespan runs once here, so the tables are read before the first generated request.
    with TestClient(app):
        yield schemathesis.openapi.from_asgi("/api/schema/openapi.json", app)


def check_operation(api_schema, path: str, mode: schemathesis.GenerationMode) -> None:
    operation = api_schema[path]["GET"]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case):
        headers = {"X-API-Key": API_KEY}
        response = case.call(headers=headers)
        excluded = []
        if mode is schemathesis.GenerationMode.NEGATIVE and query_sent_differs(case, response):
            excluded.append(schemathesis.checks.negative_data_rejection)
        case.validate_response(response, excluded_checks=excluded, headers=headers)

    check()


def query_sent_differs(case, response) -> bool:
    """Return whether the query string sent may be valid although the case is not.

    A parameter whose generated value is an empty list is left out of the URL, and a list
    of one value is sent as that value alone, which a string parameter accepts.
    """
    query = urlsplit(response.request.url).query
    sent = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    for name, value in (case.query or {}).items():
        if name not in sent or (isinstance(value, list) and len(value) == 1):
            return True
    return False


def test_schema_lists_every_operation(api_schema):
    assert {operation.ok().path for operation in api_schema.get_all_operations()} == set(OPERATIONS)


@pytest.mark.parametrize("path", OPERATIONS)
def test_valid_requests_conform(api_schema, path):
    check_operation(api_schema, path, schemathesis.GenerationMode.POSITIVE)


@pytest.mark.parametrize("path", NEGATIVE_OPERATIONS)
def test_invalid_requests_rejected(api_schema, path):
    check_operation(api_schema, path, schemathesis.GenerationMode.NEGATIVE)
