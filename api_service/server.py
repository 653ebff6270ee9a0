"""Run the API under uvicorn, the production ASGI server used by ``deploy-manager serve-api``.

The same as ``uvicorn api_service.app:create_app --factory --host 127.0.0.1 --port 8000
--no-access-log``: uvicorn's own access log is off because the API writes a JSON one.
"""

from __future__ import annotations

import logging

from api_service.settings import load_api_settings

log = logging.getLogger(__name__)


def serve(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Serve the API until interrupted; unset arguments come from the ``DM_API_*`` settings.

    Each worker process builds its own app from the environment and keeps its own cache.
    """
    import uvicorn

    settings = load_api_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    log.info("serving the API on http://%s:%d with %d worker(s)", host, port, workers)
    uvicorn.run(
        "api_service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=settings.log_level.lower(),
    )
