"""The JSON documents of the HTTP contract (``docs/http-contract.md``), built from LMS objects.

Only the members of the contract are sent: never the user object itself, its password hash,
staff flags or anything else it carries. Members whose value is unknown are left out (the
contract allows missing members); the service decides what a missing name or e-mail means.

The LMS objects vary between Open edX releases and between accounts (a service account has no
profile, a batch job has no current request), so every attribute access is guarded, and the
LMS modules used for optional data (the ``pref-lang`` preference, the course title, the site's
platform name, the current request) are imported lazily and may be absent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from django.conf import settings
from django.utils.functional import Promise

MAX_ACCEPT_LANGUAGE: Final = 256
"""Accept-Language headers longer than this are cut (the service only needs the first tags)."""


def attr(obj: Any, name: str) -> Any:
    """Return ``obj.name``, or None when it is missing or cannot be read.

    Reading a Django relation can raise (``RelatedObjectDoesNotExist`` for a user without a
    profile, a database error): all of that means "unknown" here.
    """
    if obj is None:
        return None
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - any failure to read means "unknown"
        return None


def text(value: Any) -> str | None:
    """Return ``value`` if it is a string (lazy translation strings included), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, Promise):
        return str(value)
    return None


def label(value: Any) -> str | None:
    """Return a short label (a mode, a status) as a string: ``str()`` of any non-None value."""
    if value is None:
        return None
    return text(value) or str(value)


def non_empty(value: Any) -> str | None:
    """Return ``value`` stripped if it is a non-blank string, else None."""
    string = text(value)
    if string and string.strip():
        return string.strip()
    return None


def whole_number(value: Any) -> int | None:
    """Return ``value`` as an int if it is one (or a string of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _finite(value: Any) -> float | None:
    """Return ``value`` as a finite float, else None (JSON has no NaN or infinity)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def grade_payload(grade: Any) -> dict[str, Any] | None:
    """Return ``{"percent": ..., "passed": ...}`` from a course-grade object, a number or None.

    The LMS passes its course-grade object (``percent`` from 0 to 1, ``passed``); the library
    types the argument as a float and other callers pass one. ``passed`` is sent only when it
    is known; ``letter_grade`` and the rest of the object are not part of the contract.
    """
    if grade is None:
        return None
    percent = _finite(grade)
    passed = None
    if percent is None:
        percent = _finite(attr(grade, "percent"))
        passed = attr(grade, "passed")
    if percent is None:
        return None
    out: dict[str, Any] = {"percent": percent}
    if isinstance(passed, bool):
        out["passed"] = passed
    return out


def _pref_lang(user: Any) -> str | None:
    """Return the user's ``pref-lang`` preference when the LMS's user API is importable."""
    try:  # the LMS's user API; absent outside the LMS
        from openedx.core.djangoapps.user_api.models import UserPreference
    except ImportError:
        return None
    try:
        return non_empty(UserPreference.get_value(user, "pref-lang"))
    except Exception:  # noqa: BLE001 - a preference is optional
        return None


def user_language(user: Any) -> str | None:
    """Return ``user.profile.language``, else the ``pref-lang`` preference, else None."""
    return non_empty(attr(attr(user, "profile"), "language")) or _pref_lang(user)


def current_accept_language() -> str | None:
    """Return the Accept-Language of the request being served, if any (none in batch jobs)."""
    try:  # django-crum, installed in the LMS; absent elsewhere
        from crum import get_current_request
    except ImportError:
        return None
    try:
        request = get_current_request()
        meta = attr(request, "META")
        value = meta.get("HTTP_ACCEPT_LANGUAGE") if isinstance(meta, Mapping) else None
    except Exception:  # noqa: BLE001 - the header is optional
        return None
    value = non_empty(value)
    return value[:MAX_ACCEPT_LANGUAGE] if value else None


def course_title(course_key: Any) -> str | None:
    """Return the course's display name from the LMS's course overviews (one indexed query).

    The modulestore is not touched: it is slow, and this runs while the LMS grades.
    """
    try:  # the LMS's course overviews; absent outside the LMS
        from openedx.core.djangoapps.content.course_overviews.models import CourseOverview
    except ImportError:
        return None
    try:
        rows = CourseOverview.objects.filter(id=course_key).values_list("display_name", flat=True)
        return non_empty(rows.first())
    except Exception:  # noqa: BLE001 - the title is optional
        return None


def platform() -> dict[str, Any]:
    """Return the platform's name (the site's, else ``PLATFORM_NAME``) and default language."""
    name = None
    try:  # the LMS's per-site configuration; absent outside the LMS
        from openedx.core.djangoapps.site_configuration import helpers as configuration_helpers

        name = configuration_helpers.get_value("platform_name", None)
    except Exception:  # noqa: BLE001 - ImportError outside the LMS, or no site
        name = None
    out: dict[str, Any] = {
        "name": non_empty(name) or non_empty(attr(settings, "PLATFORM_NAME")),
        "language": non_empty(attr(settings, "LANGUAGE_CODE")),
    }
    return {k: v for k, v in out.items() if v is not None}


def _without_none(members: dict[str, Any]) -> dict[str, Any]:
    """Drop the members whose value is unknown."""
    return {k: v for k, v in members.items() if v is not None}


def creation_payload(
    user: Any,
    course_key: Any,
    mode: Any,
    status: Any,
    grade: Any,
    generation_mode: Any,
) -> dict[str, Any] | None:
    """Return the body of ``POST /v1/filters/certificate-creation-requested``.

    Returns None when there is no user id or course key: nothing to ask the service about.
    """
    user_id = whole_number(attr(user, "id"))
    key = str(course_key) if course_key is not None else None
    if user_id is None or not key:
        return None
    profile = attr(user, "profile")
    user_doc = _without_none(
        {
            "id": user_id,
            "username": text(attr(user, "username")),
            "email": text(attr(user, "email")),
            "full_name": text(attr(profile, "name")),
            "first_name": text(attr(user, "first_name")),
            "last_name": text(attr(user, "last_name")),
            "language": user_language(user),
        }
    )
    return _without_none(
        {
            "user": user_doc,
            "course": _without_none({"key": key, "title": course_title(course_key)}),
            "mode": label(mode),
            "status": label(status),
            "grade": grade_payload(grade),
            "generation_mode": label(generation_mode),
            "accept_language": current_accept_language(),
            "platform": platform() or None,
        }
    )


def render_payload(context: Any) -> dict[str, Any] | None:
    """Return the body of ``POST /v1/filters/certificate-render-started``.

    ``context`` is the certificate page's template context: ``course_id`` and
    ``accomplishment_user_id`` (the certificate's owner, not the visitor) are required, the
    LMS's certificate id is ``user_certificate.verify_uuid`` (or ``certificate_id_number``).
    Returns None when the course or the owner is unknown: nothing to ask the service about.
    """
    if not isinstance(context, Mapping):
        return None
    course_id = context.get("course_id")
    key = str(course_id) if course_id is not None else None
    user_id = whole_number(context.get("accomplishment_user_id"))
    if not key or user_id is None:
        return None
    verify_uuid = attr(context.get("user_certificate"), "verify_uuid") or context.get(
        "certificate_id_number"
    )
    return _without_none(
        {
            "course_key": key,
            "user_id": user_id,
            "verify_uuid": str(verify_uuid) if verify_uuid else None,
            "language": non_empty(context.get("user_language")),
            "accept_language": current_accept_language(),
            "platform_name": non_empty(context.get("platform_name")),
        }
    )
