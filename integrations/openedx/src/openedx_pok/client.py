"""One HTTP call to the service: POST a JSON document, get a JSON object back.

Every way this can fail (refused connection, timeout, a non-2xx answer, a body that is not a
JSON object) becomes a :class:`ServiceError` whose ``reason`` is written by this module alone:
no URL (it may hold credentials), no request data, no exception text from the HTTP library.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

import requests

from openedx_pok import __version__
from openedx_pok.conf import StepConfig

USER_AGENT: Final = f"openedx-pok-steps/{__version__}"

_local = threading.local()


class ServiceError(Exception):
    """The service gave no usable answer. ``reason`` is safe to log: it holds no personal data."""

    def __init__(self, reason: str) -> None:
        """Keep ``reason`` as the message."""
        super().__init__(reason)
        self.reason = reason


def _session() -> requests.Session:
    """Return this thread's session (sessions pool connections but are not thread-safe)."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        _local.session = session
    return session


def _problem_field(response: requests.Response) -> str | None:
    """Return the ``field`` member of an ``application/problem+json`` answer, if short and plain."""
    if "problem+json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        problem = json.loads(response.content)
    except ValueError:
        return None
    field = problem.get("field") if isinstance(problem, dict) else None
    if (
        isinstance(field, str)
        and len(field) <= 64
        and field.replace(".", "").replace("_", "").isalnum()
    ):
        return field
    return None


def post_json(config: StepConfig, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST ``payload`` to ``config.service_url + path`` and return the answer's JSON object.

    Raises:
        ServiceError: the service could not be reached in time or answered something unusable.

    """
    try:
        body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise ServiceError("the request could not be encoded as JSON") from exc

    url = config.service_url.rstrip("/") + path
    headers = {
        "Authorization": f"Bearer {config.secret}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    try:
        response = _session().post(
            url,
            data=body,
            headers=headers,
            timeout=(config.timeout_s, config.timeout_s),
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        raise ServiceError(f"no answer within {config.timeout_ms} ms") from exc
    except requests.ConnectionError as exc:
        raise ServiceError("connection failed") from exc
    except requests.RequestException as exc:
        raise ServiceError(f"request failed ({type(exc).__name__})") from exc

    if not 200 <= response.status_code < 300:
        field = _problem_field(response)
        detail = f" (field {field})" if field else ""
        raise ServiceError(f"HTTP {response.status_code}{detail}")
    try:
        answer = json.loads(response.content)
    except ValueError as exc:
        raise ServiceError("the answer is not JSON") from exc
    if not isinstance(answer, dict):
        raise ServiceError("the answer is not a JSON object")
    return answer
