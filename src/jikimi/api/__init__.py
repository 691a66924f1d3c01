"""The HTTP API (FastAPI): a thin door over the services.

``create_app(settings)`` builds the application; nothing is opened at import.
OpenAPI at ``/docs``; every error is an RFC 9457 problem (see :mod:`.problems`).
"""

from __future__ import annotations

from jikimi.api.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
