"""End to end: the real filters, our steps, the real ``openedx-pok`` binary and its simulator.

Each test starts ``openedx-pok demo`` on free ports with its own SQLite file (see
``pok_service.py`` for what is assumed about the binary). Without the binary the tests fail
with a message saying how to build it: they are never skipped. Select them with ``-m e2e``,
leave them out with ``-m "not e2e"``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openedx_filters.learning.filters import CertificateCreationRequested, CertificateRenderStarted

from fakes import FULL_NAME, CourseGrade, course_key, make_user, render_context
from pok_service import DEMO_COURSE, PokService, page_kind

pytestmark = pytest.mark.e2e

Prevent = CertificateCreationRequested.PreventCertificateCreation
RenderCustomResponse = CertificateRenderStarted.RenderCustomResponse
UNLINKED_COURSE = "course-v1:OrgX+Unlinked+2026"
E2E_SECRET = "e2e-shared-secret-0123456789"
AT_ONCE_S = 3.0
"""A creation request must be answered within this (a debug build on a busy CI machine)."""


@pytest.fixture
def pok(tmp_path: Path) -> Iterator[PokService]:
    """A running ``openedx-pok demo``, stopped at teardown."""
    service = PokService(tmp_path, E2E_SECRET)
    problem = None
    try:
        service.start()
    except RuntimeError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(problem, pytrace=False)
    yield service
    service.stop()


def create(user: Any, course: str = DEMO_COURSE) -> tuple:
    """Call the real creation filter as the LMS does for a passing learner."""
    return CertificateCreationRequested.run_filter(
        user=user,
        course_key=course_key(course),
        mode="verified",
        status="downloadable",
        grade=CourseGrade(),
        generation_mode="self",
    )


def render(user_id: int = 42, course: str = DEMO_COURSE) -> tuple[int, str] | None:
    """Call the real render filter; return the page (status, body), or None for "continue"."""
    context = render_context(user_id=user_id, course=course)
    try:
        result = CertificateRenderStarted.run_filter(context=context, custom_template=None)
    except RenderCustomResponse as exc:
        return exc.response.status_code, exc.response.content.decode()
    assert result == (context, None)
    return None


def our_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines our steps logged at WARNING or above."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("openedx_pok") and r.levelno >= logging.WARNING
    ]


def test_creation_continues_at_once_and_issues_exactly_once(
    pok: PokService, configure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # on_error=prevent: a failing service would raise, so "continue" is the service's answer.
    configure(pok.url, secret=pok.secret, on_error="prevent", timeout_ms=10_000)
    user = make_user()

    for _ in range(3):
        started = time.monotonic()
        result = create(user)
        elapsed = time.monotonic() - started
        assert result[0] is user and str(result[1]) == DEMO_COURSE
        assert elapsed < AT_ONCE_S, f"the creation filter took {elapsed:.2f} s"

    count = pok.wait_for_credentials(42, DEMO_COURSE, timeout_s=30)
    assert count == 1, f"expected one credential, the simulator holds {count}\n{pok.log_tail()}"
    create(user)  # once more after issuing
    time.sleep(2)  # let the worker do anything it would wrongly do
    assert pok.credentials_for(42, DEMO_COURSE) == 1
    assert our_warnings(caplog) == []


def test_rendering_shows_processing_then_the_emitted_certificate(
    pok: PokService, configure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    configure(pok.url, secret=pok.secret, on_error="prevent", timeout_ms=10_000)
    create(make_user())

    first = render()
    assert first is not None, "the service let the LMS render its own page"
    assert page_kind(*first) == "processing", first[1][:500]
    assert first[0] == 200

    seen = ["processing"]
    deadline = time.monotonic() + 60
    page = first
    while time.monotonic() < deadline:
        page = render()
        assert page is not None
        kind = page_kind(*page)
        if kind != seen[-1]:
            seen.append(kind)
        if kind == "emitted":
            break
        time.sleep(0.5)
    assert seen == ["processing", "emitted"], f"pages seen: {seen}\n{pok.log_tail()}"
    status, body = page
    assert status == 200
    assert FULL_NAME in body
    assert our_warnings(caplog) == []


def test_a_course_that_is_not_linked_continues_untouched(
    pok: PokService, configure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    configure(pok.url, secret=pok.secret, on_error="prevent", timeout_ms=10_000)
    user = make_user()

    result = create(user, UNLINKED_COURSE)

    assert result[0] is user and str(result[1]) == UNLINKED_COURSE
    assert render(course=UNLINKED_COURSE) is None
    time.sleep(2)
    assert pok.credentials_for(42, UNLINKED_COURSE) == 0
    assert our_warnings(caplog) == []


def test_with_the_service_stopped_on_error_decides(
    pok: PokService, configure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    configure(pok.url, secret=pok.secret, on_error="prevent", timeout_ms=2000)
    assert create(make_user(), UNLINKED_COURSE)[0].id == 42  # reachable while it runs
    pok.stop()
    user = make_user()

    configure(pok.url, secret=pok.secret, on_error="continue", timeout_ms=2000)
    assert create(user)[0] is user
    assert render() is None
    assert len(our_warnings(caplog)) == 2

    configure(pok.url, secret=pok.secret, on_error="prevent", timeout_ms=2000)
    with pytest.raises(Prevent):
        create(user)
    page = render()
    assert page is not None and page[0] == 503
