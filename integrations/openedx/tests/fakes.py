"""Realistic stand-ins for LMS objects, and a tiny local HTTP server that plays the service."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ObjectDoesNotExist
from opaque_keys.edx.keys import CourseKey

CREATION = "org.openedx.learning.certificate.creation.requested.v1"
RENDER = "org.openedx.learning.certificate.render.started.v1"
CREATION_STEP = "openedx_pok.steps.CertificateCreationStep"
RENDER_STEP = "openedx_pok.steps.CertificateRenderStep"
SECRET = "s3cret-shared-with-the-service"
COURSE = "course-v1:edX+DemoX+Demo_Course"
EMAIL = "ada.lovelace@example.org"
FULL_NAME = "Ada King Lovelace"
PASSWORD_HASH = "pbkdf2_sha256$870000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA="
VERIFY_UUID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


def make_user(
    user_id: int = 42,
    *,
    username: str = "ada",
    email: str = EMAIL,
    full_name: str | None = FULL_NAME,
    language: str | None = "es-AR",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Return an unsaved Django user with a password hash, staff flags and an LMS profile."""
    user = User(
        id=user_id,
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        password=PASSWORD_HASH,
        is_staff=False,
        is_active=True,
    )
    if full_name is not None or language is not None:
        # The LMS's UserProfile: a one-to-one relation with many more fields than we need.
        user.profile = SimpleNamespace(
            name=full_name,
            language=language,
            year_of_birth=1815,
            gender="f",
            mailing_address="12 St James's Square, London",
            meta="{}",
        )
    return user


class ProfilelessUser:
    """A service account as the LMS has it: reading ``profile`` raises, as Django does."""

    id = 7
    username = "ecommerce_worker"
    email = "ecommerce@example.org"
    first_name = ""
    last_name = ""
    password = PASSWORD_HASH

    @property
    def profile(self) -> Any:
        """Raise like ``RelatedObjectDoesNotExist`` (an ``ObjectDoesNotExist``)."""
        raise ObjectDoesNotExist("User has no profile.")


@dataclass
class CourseGrade:
    """The LMS's course-grade object, with the attributes the filter sees."""

    percent: float = 0.93
    passed: bool = True
    letter_grade: str | None = "A"
    summary: dict[str, Any] = field(default_factory=lambda: {"grade": "A", "percent": 0.93})


def course_key(key: str = COURSE) -> CourseKey:
    """Return a real opaque-keys course key, as the LMS passes it."""
    return CourseKey.from_string(key)


def render_context(
    user_id: int = 42, course: str = COURSE, verify_uuid: str = VERIFY_UUID
) -> dict[str, Any]:
    """Return a certificate page context like the LMS's ``render_html_view`` builds it."""
    certificate = SimpleNamespace(
        verify_uuid=verify_uuid,
        mode="verified",
        grade="0.93",
        status="downloadable",
        user=SimpleNamespace(id=user_id, email=EMAIL, password=PASSWORD_HASH),
    )
    return {
        "course_id": course,
        "accomplishment_user_id": user_id,
        "accomplishment_copy_name": FULL_NAME,
        "accomplishment_copy_username": "ada",
        "username": "ada",
        "course_mode": "verified",
        "certificate_data": {"course_title": "Demonstration Course", "signatories": []},
        "certificate_id_number": verify_uuid,
        "user_certificate": certificate,
        "platform_name": "My Campus",
        "user_language": "es",
        "document_title": "Demonstration Course Certificate | My Campus",
    }


def filters_config(
    service_url: str | None,
    *,
    secret: str | None = SECRET,
    on_error: str = "continue",
    timeout_ms: int | None = 2000,
    fail_silently: bool = False,
    extra_steps: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Return an ``OPEN_EDX_FILTERS_CONFIG`` with both steps and the given ``extra_config``."""
    extra: dict[str, Any] = {"on_error": on_error}
    if service_url is not None:
        extra["service_url"] = service_url
    if secret is not None:
        extra["secret"] = secret
    if timeout_ms is not None:
        extra["timeout_ms"] = timeout_ms
    return {
        CREATION: {
            "pipeline": [CREATION_STEP, *extra_steps],
            "fail_silently": fail_silently,
            **extra,
        },
        RENDER: {"pipeline": [RENDER_STEP], "fail_silently": fail_silently, **extra},
    }


@dataclass
class Recorded:
    """One request the fake service received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body, decoded."""
        return json.loads(self.body)


@dataclass
class Reply:
    """What the fake service answers: a status, a body (JSON or raw bytes) and a delay."""

    status: int = 200
    json_body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        """The bytes to send."""
        if self.raw is not None:
            return self.raw
        return json.dumps(self.json_body).encode()


class FakeService:
    """A local HTTP server in a thread that records requests and answers with ``reply``."""

    def __init__(self) -> None:
        """Start serving on a free port of 127.0.0.1."""
        self.requests: list[Recorded] = []
        self.reply = Reply(json_body={"action": "continue"})
        self.responder: Callable[[Recorded], Reply] | None = None
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                service.requests.append(recorded)
                reply = service.responder(recorded) if service.responder else service.reply
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = reply.payload()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        """The base URL of the fake service."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fake_service() -> Iterator[FakeService]:
    """Run a fake service for the duration of a ``with`` block."""
    service = FakeService()
    try:
        yield service
    finally:
        service.close()


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
