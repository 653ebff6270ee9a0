"""Query and path parameters shared by the controllers, with their bounds.

Litestar validates each value against these bounds, and the OpenAPI schema shows them. The
rules below become the error messages for rejected values.
"""

from __future__ import annotations

import re
from typing import Annotated

from litestar.params import Parameter

from api_service.tables import MAX_DAYS

# The rule of ``deploy_manager.partitions.SITE_ID_PATTERN``, repeated so that the API process
# does not import Dagster; a test checks that both stay equal.
SITE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

DEFAULT_DAYS = 7
MAX_LIMIT = 5000
MAX_TEXT_FILTER = 256

PARAMETER_RULES = {
    "days": f"use a whole number of days from 1 to {MAX_DAYS}",
    "site_id": "site ids are 1-64 letters, digits, '_', '-' or '.' and start with a letter "
    "or digit",
    "limit": f"use a whole number from 1 to {MAX_LIMIT}",
    "playbook": f"use a playbook file name of 1 to {MAX_TEXT_FILTER} characters",
    "device": f"use a device name of 1 to {MAX_TEXT_FILTER} characters",
    "include_diff": "use true or false",
    "drift_only": "use true or false",
    "status": "use open, cleared or all",
    "kind": "use check, freshness or threshold",
}

Days = Annotated[
    int,
    Parameter(
        ge=1,
        le=MAX_DAYS,
        description="Dates in the window, which ends at the latest materialized date of the "
        "table read.",
    ),
]
SiteFilter = Annotated[
    str | None,
    Parameter(
        pattern=SITE_ID_PATTERN.pattern,
        min_length=1,
        max_length=64,
        description="Only this site; a site no table has a partition for is answered with 404.",
    ),
]
SitePath = Annotated[
    str,
    Parameter(
        pattern=SITE_ID_PATTERN.pattern,
        min_length=1,
        max_length=64,
        description="Site id, as in the inventory's site_<ID> groups.",
    ),
]
PlaybookFilter = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=MAX_TEXT_FILTER,
        description="Only this playbook file name, for example deploy_edge.yml.",
    ),
]
DeviceFilter = Annotated[
    str | None,
    Parameter(min_length=1, max_length=MAX_TEXT_FILTER, description="Only this device."),
]


def limit_parameter(default: int) -> object:
    return Parameter(ge=1, le=MAX_LIMIT, description=f"Rows returned at most (default {default}).")
