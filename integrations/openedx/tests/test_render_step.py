"""``CertificateRenderStep`` through the real ``CertificateRenderStarted`` filter, against a
fake service: what is sent, how each answer maps, what happens when the service fails."""

from __future__ import annotations

import logging
import sys
import types
from typing import Any

import pytest
from django.http import HttpRequest
from openedx_filters.learning.filters import CertificateRenderStarted

from fakes import (
    COURSE,
    EMAIL,
    FULL_NAME,
    SECRET,
    VERIFY_UUID,
    FakeService,
    Reply,
    free_port,
    render_context,
)

RenderCustomResponse = CertificateRenderStarted.RenderCustomResponse
RedirectToPage = CertificateRenderStarted.RedirectToPage
PATH = "/v1/filters/certificate-render-started"
TEMPLATE = types.SimpleNamespace(name="custom-certificate", template="<html>{{ x }}</html>")


def run(context: Any = None) -> tuple:
    """Call the real filter the way the LMS's ``render_html_view`` does."""
    return CertificateRenderStarted.run_filter(
        context=render_context() if context is None else context, custom_template=TEMPLATE
    )


def test_sends_exactly_the_contract_fields(service: FakeService, configure: Any) -> None:
    configure(service.url)
    context = render_context()
    before = dict(context)

    result = CertificateRenderStarted.run_filter(context=context, custom_template=TEMPLATE)

    assert result[0] is context and result[1] is TEMPLATE
    assert context == before
    [request] = service.requests
    assert request.path == PATH
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.json == {
        "course_key": COURSE,
        "user_id": 42,
        "verify_uuid": VERIFY_UUID,
        "language": "es",
        "platform_name": "My Campus",
    }
    for leak in (EMAIL.encode(), FULL_NAME.encode(), b"pbkdf2", b"username"):
        assert leak not in request.body


def test_sends_the_visitors_accept_language(
    service: FakeService, configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = HttpRequest()
    request.META["HTTP_ACCEPT_LANGUAGE"] = "es-AR,es;q=0.9"
    monkeypatch.setitem(
        sys.modules, "crum", types.SimpleNamespace(get_current_request=lambda: request)
    )
    configure(service.url)
    run()
    assert service.requests[0].json["accept_language"] == "es-AR,es;q=0.9"


def test_the_lms_certificate_id_number_is_used_without_user_certificate(
    service: FakeService, configure: Any
) -> None:
    configure(service.url)
    context = render_context()
    del context["user_certificate"]
    context["accomplishment_user_id"] = "42"
    run(context)
    sent = service.requests[0].json
    assert sent["verify_uuid"] == VERIFY_UUID and sent["user_id"] == 42


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"course_id": COURSE},
        {"accomplishment_user_id": 42},
        {"course_id": COURSE, "accomplishment_user_id": None},
        None,
    ],
)
def test_a_context_without_course_or_owner_is_not_asked_about(
    service: FakeService, configure: Any, context: Any
) -> None:
    configure(service.url, on_error="prevent")
    result = CertificateRenderStarted.run_filter(context=context, custom_template=None)
    assert result == (context, None)
    assert service.requests == []


def test_continue_returns_the_arguments_unchanged(service: FakeService, configure: Any) -> None:
    configure(service.url, on_error="prevent")
    service.reply = Reply(json_body={"action": "continue"})
    context = render_context()
    assert run(context) == (context, TEMPLATE)


@pytest.mark.parametrize(
    ("status", "content_type"),
    [
        (200, "text/html; charset=utf-8"),
        (410, "text/html; charset=utf-8"),
        (503, "text/html; charset=utf-8"),
        (404, "text/plain"),
    ],
)
def test_render_answers_become_a_custom_response(
    service: FakeService, configure: Any, status: int, content_type: str
) -> None:
    configure(service.url)
    body = "<!doctype html><title>Certificado</title><p>Ada — ¡felicitaciones!</p>"
    service.reply = Reply(
        json_body={"action": "render", "status": status, "content_type": content_type, "body": body}
    )
    with pytest.raises(RenderCustomResponse) as caught:
        run()
    response = caught.value.response
    assert response.status_code == status
    assert response["Content-Type"] == content_type
    assert response.content.decode() == body


def test_render_without_content_type_is_html(service: FakeService, configure: Any) -> None:
    configure(service.url)
    service.reply = Reply(json_body={"action": "render", "status": 200, "body": "<p>ok</p>"})
    with pytest.raises(RenderCustomResponse) as caught:
        run()
    assert caught.value.response["Content-Type"] == "text/html; charset=utf-8"


def test_redirect_answers_redirect(service: FakeService, configure: Any) -> None:
    configure(service.url)
    url = "https://certificates.example.org/certificates/0b6a4f7e-2f0c-4b9a-9d43-1f0e0a1c2d3e"
    service.reply = Reply(json_body={"action": "redirect", "url": url})
    with pytest.raises(RedirectToPage) as caught:
        run()
    assert caught.value.redirect_to == url


NONSENSE = {
    "status as text": {"action": "render", "status": "200", "body": "<p>x</p>"},
    "status out of range": {"action": "render", "status": 99, "body": "<p>x</p>"},
    "status is a boolean": {"action": "render", "status": True, "body": "<p>x</p>"},
    "no body": {"action": "render", "status": 200},
    "header injection": {
        "action": "render",
        "status": 200,
        "body": "x",
        "content_type": "text/html\r\nSet-Cookie: a=b",
    },
    "redirect without url": {"action": "redirect"},
    "redirect to javascript": {"action": "redirect", "url": "javascript:alert(1)"},
    "relative redirect": {"action": "redirect", "url": "/certificates/1"},
    "unknown action": {"action": "prevent", "message": "not a render action"},
}


def refused_url() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


FAILURES: dict[str, tuple[Reply | None, str]] = {
    "refused": (None, "connection failed"),
    "timeout": (Reply(json_body={"action": "continue"}, delay_s=1.5), "no answer within 300 ms"),
    "500": (Reply(status=500, raw=b"oops", content_type="text/plain"), "HTTP 500"),
    "invalid JSON": (Reply(raw=b"{not json", content_type="application/json"), "not JSON"),
    **{name: (Reply(json_body=answer), "answer") for name, answer in NONSENSE.items()},
}


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("on_error", ["continue", "prevent"])
def test_service_failures_follow_on_error_and_log_one_line(
    service: FakeService,
    configure: Any,
    caplog: pytest.LogCaptureFixture,
    failure: str,
    on_error: str,
) -> None:
    reply, reason = FAILURES[failure]
    if reply is None:
        configure(refused_url(), on_error=on_error, timeout_ms=300)
    else:
        configure(service.url, on_error=on_error, timeout_ms=300)
        service.reply = reply
    context = render_context()

    with caplog.at_level(logging.INFO):
        if on_error == "prevent":
            with pytest.raises(RenderCustomResponse) as caught:
                run(context)
            response = caught.value.response
            assert response.status_code == 503
            assert b"temporarily unavailable" in response.content
            assert response["Retry-After"] == "60"
        else:
            assert run(context) == (context, TEMPLATE)

    ours = [r for r in caplog.records if r.name.startswith("openedx_pok")]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    line = ours[0].getMessage()
    assert "\n" not in line and reason in line and f"on_error={on_error}" in line
    for secret in (EMAIL, FULL_NAME, SECRET, VERIFY_UUID):
        assert secret not in caplog.text


def test_render_headers_are_copied_when_allowed(service: FakeService, configure: Any) -> None:
    configure(service.url)
    service.reply = Reply(
        json_body={
            "action": "render",
            "status": 200,
            "content_type": "text/html; charset=utf-8",
            "body": '<meta http-equiv="refresh" content="10"><p>processing</p>',
            "headers": {
                "Retry-After": "10",
                "Cache-Control": "no-store",
                "Set-Cookie": "sessionid=stolen",
                "Content-Length": "1",
                "X-Robots-Tag": "noindex\r\nSet-Cookie: a=b",
                "Vary": 7,
            },
        }
    )
    with pytest.raises(RenderCustomResponse) as caught:
        run()
    response = caught.value.response
    assert response["Retry-After"] == "10" and response["Cache-Control"] == "no-store"
    for dropped in ("Set-Cookie", "Content-Length", "X-Robots-Tag", "Vary"):
        assert dropped not in response
    assert not response.cookies
