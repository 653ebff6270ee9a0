"""One controller per resource of the API, and what the controllers share."""

from __future__ import annotations

from litestar import Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec

from api_service.errors import InvalidParameterError
from api_service.schemas import ErrorBody

# Documented on every endpoint that needs an API key when keys are configured.
PROTECTED_RESPONSES = {
    401: ResponseSpec(ErrorBody, description="Missing or invalid X-API-Key header."),
    429: ResponseSpec(ErrorBody, description="Rate limit of the API key exceeded."),
}
SITE_RESPONSES = {
    **PROTECTED_RESPONSES,
    404: ResponseSpec(ErrorBody, description="No table has a partition for the site."),
}

_handler_parameters: dict[HTTPRouteHandler, frozenset[str]] = {}


def handler_parameters(handler: HTTPRouteHandler) -> frozenset[str]:
    """Return the query and path parameters that ``handler`` takes: its arguments that are not
    dependencies."""
    names = _handler_parameters.get(handler)
    if names is None:
        arguments = set(handler.parsed_fn_signature.parameters)
        names = frozenset(arguments - set(handler.resolve_dependencies()))
        _handler_parameters[handler] = names
    return names


async def reject_unknown_query_parameters(request: Request) -> None:
    """Reject a query parameter the endpoint does not take, such as a misspelt filter that
    would otherwise be ignored and widen the result, and a parameter given more than once,
    since every parameter takes one value."""
    allowed = handler_parameters(request.route_handler) - request.path_params.keys()
    for name in request.query_params:
        if name not in allowed:
            expected = ", ".join(sorted(allowed)) or "no query parameters"
            raise InvalidParameterError(
                f"query parameter {name!r} is unknown: {request.method} {request.url.path} "
                f"takes {expected}"
            )
        count = len(request.query_params.getall(name))
        if count > 1:
            raise InvalidParameterError(
                f"query parameter {name!r} is given {count} times: give it once"
            )
