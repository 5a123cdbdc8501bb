"""The two ``openedx_filters`` pipeline steps.

Configure them in ``OPEN_EDX_FILTERS_CONFIG`` (see ``docs/openedx.md``)::

    "org.openedx.learning.certificate.creation.requested.v1": {
        "pipeline": ["openedx_pok.steps.CertificateCreationStep"],
        "fail_silently": False,
        "on_error": "continue",
    },
    "org.openedx.learning.certificate.render.started.v1": {
        "pipeline": ["openedx_pok.steps.CertificateRenderStep"],
        "fail_silently": False,
        "on_error": "continue",
    },

Each step builds the contract's JSON from its arguments, asks the service, and either returns
its arguments unchanged (the LMS goes on, and so do later steps of the pipeline) or raises the
filter's exception. A step never lets any other exception out: when the service is down, slow,
misconfigured or answers nonsense, it logs one line without personal data and does what
``on_error`` says.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from django.http import HttpResponse
from openedx_filters.filters import PipelineStep
from openedx_filters.learning.filters import CertificateCreationRequested, CertificateRenderStarted

from openedx_pok.client import ServiceError, post_json
from openedx_pok.conf import ON_ERROR_PREVENT, StepConfig
from openedx_pok.payloads import creation_payload, render_payload

log = logging.getLogger(__name__)

CREATION_PATH: Final = "/v1/filters/certificate-creation-requested"
RENDER_PATH: Final = "/v1/filters/certificate-render-started"

DEFAULT_CONTENT_TYPE: Final = "text/html; charset=utf-8"

PAGE_HEADERS: Final = frozenset(
    {
        "cache-control",
        "content-language",
        "expires",
        "link",
        "refresh",
        "retry-after",
        "vary",
        "x-robots-tag",
    }
)
"""Headers of a render answer that reach the browser; others (``Set-Cookie`` on the LMS's
domain, framing headers) are dropped."""

UNAVAILABLE_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Certificate temporarily unavailable</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Certificate temporarily unavailable</h1>
<p>This certificate cannot be shown right now. Please try again in a few minutes.</p>
</main></body></html>
"""


def _log_failure(step: str, config: StepConfig, course_key: Any, reason: str) -> None:
    """Log the one line that says the service failed and what the step does about it.

    Only the step, the course key (not personal), the reason (written by this package) and the
    decision are logged: never the learner, the URL or the secret.
    """
    consequence = (
        "stopping the LMS"
        if config.on_error == ON_ERROR_PREVENT
        else "letting the LMS go on without POK"
    )
    log.warning(
        "openedx-pok %s step: %s (course %s); on_error=%s: %s",
        step,
        reason,
        course_key if course_key is not None else "unknown",
        config.on_error,
        consequence,
    )


def _message(answer: dict[str, Any], default: str) -> str:
    """Return the answer's ``message`` if it is a non-blank string, else ``default``."""
    message = answer.get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()
    return default


class CertificateCreationStep(PipelineStep):
    """Step for ``CertificateCreationRequested``: asks the service whether POK issues this one.

    The service records the request and answers at once (it never calls POK while the LMS
    waits): ``continue`` (enqueued, already requested or not a POK course) returns the
    arguments unchanged; ``prevent`` raises ``PreventCertificateCreation`` with its message.
    """

    default_timeout_ms: Final = 3000

    def run_filter(
        self,
        user: Any,
        course_key: Any,
        mode: Any,
        status: Any,
        grade: Any,
        generation_mode: Any,
        **_later: Any,
    ) -> dict[str, Any]:
        """Ask the service; return the arguments unchanged or raise the filter's exception."""
        unchanged = {
            "user": user,
            "course_key": course_key,
            "mode": mode,
            "status": status,
            "grade": grade,
            "generation_mode": generation_mode,
        }
        config = StepConfig.load(self.extra_config, default_timeout_ms=self.default_timeout_ms)
        prevent: CertificateCreationRequested.PreventCertificateCreation | None = None
        try:
            if config.problem:
                raise ServiceError(f"misconfigured: {config.problem}")
            payload = creation_payload(user, course_key, mode, status, grade, generation_mode)
            if payload is None:
                log.debug("openedx-pok creation step: no user id or course key, nothing to ask")
                return unchanged
            answer = post_json(config, CREATION_PATH, payload)
            action = answer.get("action")
            if action == "prevent":
                prevent = CertificateCreationRequested.PreventCertificateCreation(
                    _message(answer, "the POK certificate service prevented this certificate")
                )
            elif action != "continue":
                raise ServiceError("the answer has no valid action")
            else:
                log.debug("openedx-pok creation step: continue (%s)", answer.get("outcome"))
        except ServiceError as exc:
            _log_failure("creation", config, course_key, exc.reason)
            if config.on_error == ON_ERROR_PREVENT:
                prevent = CertificateCreationRequested.PreventCertificateCreation(
                    "the POK certificate service is unavailable; try again later"
                )
        except Exception as exc:  # noqa: BLE001 - a bug here must not break certificate creation
            _log_failure("creation", config, course_key, f"internal error ({type(exc).__name__})")
            if config.on_error == ON_ERROR_PREVENT:
                prevent = CertificateCreationRequested.PreventCertificateCreation(
                    "the POK certificate step failed; try again later"
                )
        if prevent is not None:
            raise prevent
        return unchanged


def _is_absolute_http_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL that can go into a Location header."""
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not any(c in url for c in "\r\n")
    )


def _copy_page_headers(headers: Any, response: HttpResponse) -> None:
    """Copy the allowed headers of a render answer (``Retry-After``, ...) onto the response."""
    if not isinstance(headers, dict):
        return
    for name, value in headers.items():
        if (
            isinstance(name, str)
            and name.lower() in PAGE_HEADERS
            and isinstance(value, str)
            and not any(c in value for c in "\r\n")
        ):
            response[name] = value


def _render_outcome(answer: dict[str, Any]) -> Exception | None:
    """Turn a render answer into the exception to raise, or None for ``continue``.

    Raises:
        ServiceError: the answer is not one the contract allows.

    """
    action = answer.get("action")
    if action == "continue":
        return None
    if action == "render":
        status = answer.get("status")
        body = answer.get("body")
        content_type = answer.get("content_type", DEFAULT_CONTENT_TYPE)
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ServiceError("the render answer has no valid status")
        if not isinstance(body, str):
            raise ServiceError("the render answer has no body")
        if (
            not isinstance(content_type, str)
            or not content_type
            or any(c in content_type for c in "\r\n")
        ):
            raise ServiceError("the render answer has no valid content type")
        response = HttpResponse(body, status=status, content_type=content_type)
        _copy_page_headers(answer.get("headers"), response)
        return CertificateRenderStarted.RenderCustomResponse(
            "the POK certificate service renders this certificate", response=response
        )
    if action == "redirect":
        url = answer.get("url")
        if not isinstance(url, str) or not _is_absolute_http_url(url):
            raise ServiceError("the redirect answer has no valid URL")
        return CertificateRenderStarted.RedirectToPage(
            "the POK certificate service shows this certificate", redirect_to=url
        )
    raise ServiceError("the answer has no valid action")


def unavailable_response() -> HttpResponse:
    """Return the page shown when the service fails and ``on_error`` is ``prevent``."""
    response = HttpResponse(UNAVAILABLE_PAGE, status=503, content_type=DEFAULT_CONTENT_TYPE)
    response["Retry-After"] = "60"
    response["Cache-Control"] = "no-store"
    return response


class CertificateRenderStep(PipelineStep):
    """Step for ``CertificateRenderStarted``: asks the service which page to show.

    ``continue`` (not a POK certificate) returns the arguments unchanged and the LMS renders its
    own page; ``render`` raises ``RenderCustomResponse`` with the service's page (status, type
    and body as given); ``redirect`` raises ``RedirectToPage``. It runs on every view of a
    certificate page, anonymous ones included, so its default timeout is short.
    """

    default_timeout_ms: Final = 1500

    def run_filter(self, context: Any, custom_template: Any, **_later: Any) -> dict[str, Any]:
        """Ask the service; return the arguments unchanged or raise the filter's exception."""
        unchanged = {"context": context, "custom_template": custom_template}
        config = StepConfig.load(self.extra_config, default_timeout_ms=self.default_timeout_ms)
        course_key = context.get("course_id") if isinstance(context, Mapping) else None
        outcome: Exception | None = None
        try:
            if config.problem:
                raise ServiceError(f"misconfigured: {config.problem}")
            payload = render_payload(context)
            if payload is None:
                log.debug("openedx-pok render step: no course id or user id, nothing to ask")
                return unchanged
            outcome = _render_outcome(post_json(config, RENDER_PATH, payload))
        except ServiceError as exc:
            _log_failure("render", config, course_key, exc.reason)
            if config.on_error == ON_ERROR_PREVENT:
                outcome = CertificateRenderStarted.RenderCustomResponse(
                    "the POK certificate service is unavailable", response=unavailable_response()
                )
        except Exception as exc:  # noqa: BLE001 - a bug here must not break the certificate page
            _log_failure("render", config, course_key, f"internal error ({type(exc).__name__})")
            if config.on_error == ON_ERROR_PREVENT:
                outcome = CertificateRenderStarted.RenderCustomResponse(
                    "the POK certificate step failed", response=unavailable_response()
                )
        if outcome is not None:
            raise outcome
        return unchanged
