"""Delivery of alert messages as JSON POSTs to the webhook, with a timeout and retries."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger(__name__)

USER_AGENT = "deploy-manager-alerts/1"
# Status codes worth another attempt: the receiver is overloaded or briefly unavailable.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookDeliveryError(RuntimeError):
    """The webhook did not accept a message after every attempt."""


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    timeout_seconds: float,
    retries: int,
    backoff_seconds: float = 0.5,
) -> int:
    """POST ``payload`` as JSON to ``url`` and return the HTTP status of the accepted attempt.

    A connection error, a timeout or a status in RETRY_STATUSES is retried up to ``retries``
    times, waiting ``backoff_seconds`` and then twice as long each time. Any other status
    outside 2xx fails at once. Raises WebhookDeliveryError naming the URL and the last error.
    """
    body = json.dumps(payload, default=str).encode("utf-8")
    last_error = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code} {exc.reason}"
            if exc.code not in RETRY_STATUSES:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            last_error = f"{type(exc).__name__}: {reason}"
        log.warning(
            "webhook %s attempt %d of %d failed: %s", url, attempt + 1, retries + 1, last_error
        )
    raise WebhookDeliveryError(
        f"webhook {url} did not accept the alert ({last_error}): check that the receiver is up "
        "and DM_ALERT_WEBHOOK_URL is right; the message is sent again at the next sensor tick"
    )
