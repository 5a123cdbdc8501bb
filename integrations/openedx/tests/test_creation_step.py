"""``CertificateCreationStep`` through the real ``CertificateCreationRequested`` filter, against
a fake service: what is sent, how each answer maps, what happens when the service fails."""

from __future__ import annotations

import logging
import sys
import time
import types
from typing import Any

import pytest
from django.http import HttpRequest
from openedx_filters.learning.filters import CertificateCreationRequested

from fakes import (
    COURSE,
    EMAIL,
    FULL_NAME,
    SECRET,
    CourseGrade,
    FakeService,
    ProfilelessUser,
    Reply,
    course_key,
    free_port,
    make_user,
)

Prevent = CertificateCreationRequested.PreventCertificateCreation
PATH = "/v1/filters/certificate-creation-requested"


DEFAULT_GRADE = object()


def run(user: Any = None, *, key: Any = None, grade: Any = DEFAULT_GRADE, **kw: Any) -> tuple:
    """Call the real filter the way the LMS's ``_generate_regular_certificate_task`` does."""
    return CertificateCreationRequested.run_filter(
        user=make_user() if user is None else user,
        course_key=course_key() if key is None else key,
        mode=kw.get("mode", "verified"),
        status=kw.get("status", "downloadable"),
        grade=CourseGrade() if grade is DEFAULT_GRADE else grade,
        generation_mode=kw.get("generation_mode", "self"),
    )


def assert_no_personal_data(text: str) -> None:
    """The logs name neither the learner nor the secret."""
    for secret in (EMAIL, FULL_NAME, "Lovelace", SECRET, "ada.lovelace", "pbkdf2"):
        assert secret not in text


def test_sends_exactly_the_contract_fields(service: FakeService, configure: Any) -> None:
    configure(service.url)
    service.reply = Reply(
        json_body={
            "action": "continue",
            "outcome": "enqueued",
            "certificate_id": "0b6a4f7e-2f0c-4b9a-9d43-1f0e0a1c2d3e",
        }
    )
    user, key, grade = make_user(), course_key(), CourseGrade()

    result = CertificateCreationRequested.run_filter(
        user=user,
        course_key=key,
        mode="verified",
        status="downloadable",
        grade=grade,
        generation_mode="self",
    )

    # The LMS gets its own objects back, untouched.
    assert result == (user, key, "verified", "downloadable", grade, "self")
    assert result[0] is user and result[4] is grade
    [request] = service.requests
    assert request.method == "POST" and request.path == PATH
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "user": {
            "id": 42,
            "username": "ada",
            "email": EMAIL,
            "full_name": FULL_NAME,
            "first_name": "",
            "last_name": "",
            "language": "es-AR",
        },
        "course": {"key": COURSE},
        "mode": "verified",
        "status": "downloadable",
        "grade": {"percent": 0.93, "passed": True},
        "generation_mode": "self",
        "platform": {"name": "My Campus", "language": "en"},
    }
    for leak in (
        b"pbkdf2",
        b"password",
        b"letter_grade",
        b"year_of_birth",
        b"is_staff",
        b"mailing_address",
    ):
        assert leak not in request.body


@pytest.mark.parametrize(
    ("grade", "expected"),
    [
        (0.9, {"percent": 0.9}),
        (1, {"percent": 1.0}),
        (CourseGrade(percent=0.42, passed=False), {"percent": 0.42, "passed": False}),
        (types.SimpleNamespace(percent=0.7), {"percent": 0.7}),
        (None, None),
        (float("nan"), None),
        (types.SimpleNamespace(percent=None, passed=True), None),
        (True, None),
    ],
)
def test_grade_is_an_object_with_percent_a_number_or_none(
    service: FakeService, configure: Any, grade: Any, expected: Any
) -> None:
    configure(service.url)
    run(grade=grade)
    assert service.requests[0].json.get("grade") == expected


def test_a_user_without_profile_is_sent_without_full_name(
    service: FakeService, configure: Any
) -> None:
    configure(service.url, on_error="prevent")
    user = ProfilelessUser()
    assert run(user)[0] is user
    sent = service.requests[0].json["user"]
    assert sent == {
        "id": 7,
        "username": "ecommerce_worker",
        "email": "ecommerce@example.org",
        "first_name": "",
        "last_name": "",
    }


def test_django_first_and_last_name_are_sent_as_they_are(
    service: FakeService, configure: Any
) -> None:
    configure(service.url)
    run(make_user(first_name="José María", last_name="García López", full_name=None, language=None))
    sent = service.requests[0].json["user"]
    assert (sent["first_name"], sent["last_name"]) == ("José María", "García López")
    assert "full_name" not in sent and "language" not in sent


def test_lms_extras_when_available(
    service: FakeService, configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pref-lang, the current request's Accept-Language, the course title and the site's name
    are read from LMS modules when they are importable."""
    configure(service.url)
    request = HttpRequest()
    request.META["HTTP_ACCEPT_LANGUAGE"] = "pt-BR,pt;q=0.9,en;q=0.5"
    fake_modules = {
        "crum": types.SimpleNamespace(get_current_request=lambda: request),
        "openedx.core.djangoapps.user_api.models": types.SimpleNamespace(
            UserPreference=types.SimpleNamespace(
                get_value=lambda user, key: "pt-br" if key == "pref-lang" else None
            )
        ),
        "openedx.core.djangoapps.content.course_overviews.models": types.SimpleNamespace(
            CourseOverview=types.SimpleNamespace(
                objects=types.SimpleNamespace(filter=lambda **kw: FakeRows(kw))
            )
        ),
    }
    for name, module in fake_modules.items():
        monkeypatch.setitem(sys.modules, name, module)

    run(make_user(language=None))

    sent = service.requests[0].json
    assert sent["user"]["language"] == "pt-br"
    assert sent["accept_language"] == "pt-BR,pt;q=0.9,en;q=0.5"
    assert sent["course"] == {"key": COURSE, "title": "Demonstration Course"}


class FakeRows:
    """``CourseOverview.objects.filter(id=...).values_list(...)`` for the demo course only."""

    def __init__(self, lookup: dict[str, Any]) -> None:
        self.found = str(lookup.get("id")) == COURSE

    def values_list(self, *fields: str, flat: bool = False) -> FakeRows:
        assert fields == ("display_name",) and flat
        return self

    def first(self) -> str | None:
        return "Demonstration Course" if self.found else None


def test_failing_lms_extras_are_left_out(
    service: FakeService, configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database is down")

    monkeypatch.setitem(sys.modules, "crum", types.SimpleNamespace(get_current_request=broken))
    monkeypatch.setitem(
        sys.modules,
        "openedx.core.djangoapps.user_api.models",
        types.SimpleNamespace(UserPreference=types.SimpleNamespace(get_value=broken)),
    )
    configure(service.url, on_error="prevent")
    run(make_user(language=None))
    sent = service.requests[0].json
    assert "language" not in sent["user"] and "accept_language" not in sent


@pytest.mark.parametrize(
    "answer",
    [
        {
            "action": "continue",
            "outcome": "enqueued",
            "certificate_id": "c0ffee00-0000-4000-8000-000000000000",
        },
        {
            "action": "continue",
            "outcome": "already_requested",
            "certificate_id": "c0ffee00-0000-4000-8000-000000000000",
        },
        {
            "action": "continue",
            "outcome": "not_ours",
            "message": "the course is not linked to a POK template",
        },
        {"action": "continue", "outcome": "something_new", "extra": [1, 2]},
    ],
)
def test_continue_answers_return_the_arguments_unchanged(
    service: FakeService, configure: Any, caplog: pytest.LogCaptureFixture, answer: dict
) -> None:
    configure(service.url, on_error="prevent")
    service.reply = Reply(json_body=answer)
    user, key, grade = make_user(), course_key(), CourseGrade()
    with caplog.at_level(logging.DEBUG, logger="openedx_pok"):
        result = CertificateCreationRequested.run_filter(
            user=user,
            course_key=key,
            mode="honor",
            status="downloadable",
            grade=grade,
            generation_mode="batch",
        )
    assert result == (user, key, "honor", "downloadable", grade, "batch")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_prevent_answer_raises_prevent_certificate_creation(
    service: FakeService, configure: Any
) -> None:
    configure(service.url)
    service.reply = Reply(
        json_body={"action": "prevent", "message": "the learner has no name in their profile"}
    )
    with pytest.raises(Prevent) as caught:
        run()
    assert caught.value.message == "the learner has no name in their profile"


def test_later_steps_of_the_pipeline_still_run(service: FakeService, configure: Any) -> None:
    configure(service.url, extra_steps=("test_creation_step.ChangeModeStep",))
    assert run()[2] == "verified-by-next-step"


class ChangeModeStep:
    """Another plugin's step after ours: it must see our (unchanged) arguments."""

    def __init__(self, filter_type: str, running_pipeline: list, **extra: Any) -> None:
        pass

    def run_filter(self, user: Any, mode: str, **_: Any) -> dict[str, Any]:
        assert user.username == "ada" and mode == "verified"
        return {"mode": "verified-by-next-step"}


def refused_url() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


FAILURES = {
    "refused": (None, "connection failed"),
    "timeout": (Reply(json_body={"action": "continue"}, delay_s=1.5), "no answer within 300 ms"),
    "500": (Reply(status=500, raw=b"Internal Server Error", content_type="text/plain"), "HTTP 500"),
    "401": (
        Reply(
            status=401, json_body={"title": "unauthorized"}, content_type="application/problem+json"
        ),
        "HTTP 401",
    ),
    "422 with field": (
        Reply(
            status=422,
            json_body={"title": "bad", "field": "user.email"},
            content_type="application/problem+json",
        ),
        "HTTP 422 (field user.email)",
    ),
    "redirect": (
        Reply(status=302, raw=b"", headers={"Location": "http://example.org/"}),
        "HTTP 302",
    ),
    "invalid JSON": (Reply(raw=b"<html>not json</html>", content_type="text/html"), "not JSON"),
    "JSON array": (Reply(json_body=["continue"]), "not a JSON object"),
    "unknown action": (Reply(json_body={"action": "explode"}), "no valid action"),
    "no action": (Reply(json_body={"outcome": "enqueued"}), "no valid action"),
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
    user = make_user()

    with caplog.at_level(logging.INFO):
        if on_error == "prevent":
            with pytest.raises(Prevent) as caught:
                run(user)
            assert "unavailable" in caught.value.message
        else:
            assert run(user)[0] is user

    ours = [r for r in caplog.records if r.name.startswith("openedx_pok")]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    line = ours[0].getMessage()
    assert ours[0].levelno == logging.WARNING and "\n" not in line
    assert reason in line and f"on_error={on_error}" in line and COURSE in line
    assert_no_personal_data(caplog.text)


def test_the_timeout_is_honoured(service: FakeService, configure: Any) -> None:
    configure(service.url, timeout_ms=200)
    service.reply = Reply(json_body={"action": "prevent"}, delay_s=2)
    started = time.monotonic()
    run()
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("kw", "problem"),
    [
        ({"secret": None}, "secret"),
        ({"on_error": "explode"}, "on_error"),
        ({"timeout_ms": "soon"}, "timeout_ms"),
        ({"timeout_ms": 0}, "timeout_ms"),
    ],
)
def test_misconfiguration_is_logged_and_nothing_is_sent(
    service: FakeService, configure: Any, caplog: pytest.LogCaptureFixture, kw: dict, problem: str
) -> None:
    configure(service.url, **kw)
    with caplog.at_level(logging.INFO, logger="openedx_pok"):
        run()
    assert service.requests == []
    [record] = caplog.records
    assert "misconfigured" in record.getMessage() and problem in record.getMessage()
    assert_no_personal_data(caplog.text)


def test_missing_service_url_follows_on_error(configure: Any) -> None:
    configure(None, on_error="prevent")
    with pytest.raises(Prevent):
        run()


def test_settings_fall_back_to_django_settings(service: FakeService, configure: Any) -> None:
    configure(
        None,
        secret=None,
        timeout_ms=None,
        on_error="",
        settings_={
            "OPENEDX_POK_SERVICE_URL": service.url + "/",
            "OPENEDX_POK_SECRET": "from-django",
            "OPENEDX_POK_TIMEOUT_MS": "900",
            "OPENEDX_POK_ON_ERROR": "prevent",
        },
    )
    service.reply = Reply(status=503, raw=b"")
    with pytest.raises(Prevent):  # on_error from Django settings
        run()
    [request] = service.requests
    assert request.path == PATH  # the trailing slash of the base URL is not doubled
    assert request.headers["authorization"] == "Bearer from-django"


def test_extra_config_wins_over_django_settings(service: FakeService, configure: Any) -> None:
    configure(
        service.url,
        settings_={
            "OPENEDX_POK_SECRET": "from-django",
            "OPENEDX_POK_SERVICE_URL": "http://wrong.invalid",
        },
    )
    run()
    assert service.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_a_user_without_id_is_not_asked_about(service: FakeService, configure: Any) -> None:
    configure(service.url, on_error="prevent")
    anonymous = types.SimpleNamespace(username="", email="")
    assert run(anonymous)[0] is anonymous
    assert service.requests == []


def test_course_key_may_be_a_string(service: FakeService, configure: Any) -> None:
    configure(service.url)
    assert run(key=COURSE)[1] == COURSE
    assert service.requests[0].json["course"] == {"key": COURSE}
