"""Settings of a pipeline step: the step's ``extra_config`` first, then Django settings.

In ``OPEN_EDX_FILTERS_CONFIG`` every key of a filter's entry other than ``pipeline`` and
``fail_silently`` reaches the step as ``extra_config``:

=================  ==============================  =============================================
extra_config key   Django setting                  meaning
=================  ==============================  =============================================
``service_url``    ``OPENEDX_POK_SERVICE_URL``     base URL of the service, ``http(s)://...``
``secret``         ``OPENEDX_POK_SECRET``          shared secret, sent as a bearer token
``timeout_ms``     ``OPENEDX_POK_TIMEOUT_MS``      connect and read timeout, in milliseconds
``on_error``       ``OPENEDX_POK_ON_ERROR``        ``continue`` or ``prevent``
=================  ==============================  =============================================

Settings are read on every call (a dictionary look-up), so that a change of Django settings
needs no restart of anything but the LMS itself, and tests can override them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from django.conf import settings

ON_ERROR_CONTINUE: Final = "continue"
"""When the service fails: let the LMS go on as if POK were not installed."""

ON_ERROR_PREVENT: Final = "prevent"
"""When the service fails: stop the LMS (no certificate created; a "try later" page shown)."""

MAX_TIMEOUT_MS: Final = 60_000

# extra_config key -> Django setting.
_DJANGO_NAMES: Final = {
    "service_url": "OPENEDX_POK_SERVICE_URL",
    "secret": "OPENEDX_POK_SECRET",
    "timeout_ms": "OPENEDX_POK_TIMEOUT_MS",
    "on_error": "OPENEDX_POK_ON_ERROR",
}


def _django_setting(name: str) -> Any:
    """Return a Django setting, or None when it is unset or Django is not configured."""
    try:
        return getattr(settings, name, None)
    except Exception:  # noqa: BLE001 - ImproperlyConfigured when Django is not set up
        return None


def _lookup(extra_config: Mapping[str, Any], key: str) -> Any:
    """Return ``extra_config[key]``, else the Django setting; empty strings count as unset."""
    value = extra_config.get(key)
    if value is None or value == "":
        value = _django_setting(_DJANGO_NAMES[key])
    if value == "":
        return None
    return value


@dataclass(frozen=True)
class StepConfig:
    """What a step needs to call the service, and what to do when that fails.

    ``problem`` names a setting that is missing or wrong; a step with a problem does not call
    the service and does what ``on_error`` says, as for an unreachable service.
    """

    service_url: str
    secret: str = field(repr=False)
    timeout_ms: int
    on_error: str
    problem: str | None = None

    @property
    def timeout_s(self) -> float:
        """The timeout in seconds, as ``requests`` wants it."""
        return self.timeout_ms / 1000

    @classmethod
    def load(cls, extra_config: Mapping[str, Any] | None, *, default_timeout_ms: int) -> StepConfig:
        """Read the settings; never raises, a wrong setting becomes ``problem``."""
        extra = extra_config or {}
        problems: list[str] = []

        on_error = _lookup(extra, "on_error")
        if on_error is None:
            on_error = ON_ERROR_CONTINUE
        elif not isinstance(on_error, str) or on_error.strip().lower() not in (
            ON_ERROR_CONTINUE,
            ON_ERROR_PREVENT,
        ):
            problems.append("on_error must be 'continue' or 'prevent'")
            on_error = ON_ERROR_CONTINUE
        else:
            on_error = on_error.strip().lower()

        service_url = _lookup(extra, "service_url")
        if service_url is None:
            problems.append("service_url (OPENEDX_POK_SERVICE_URL) is not set")
            service_url = ""
        elif not isinstance(service_url, str) or not service_url.startswith(
            ("http://", "https://")
        ):
            problems.append("service_url must start with http:// or https://")
            service_url = ""

        secret = _lookup(extra, "secret")
        if secret is None:
            problems.append("secret (OPENEDX_POK_SECRET) is not set")
            secret = ""
        elif not isinstance(secret, str):
            problems.append("secret must be a string")
            secret = ""

        raw_timeout = _lookup(extra, "timeout_ms")
        timeout_ms = default_timeout_ms
        if raw_timeout is not None:
            try:
                if isinstance(raw_timeout, bool):
                    raise TypeError
                timeout_ms = int(raw_timeout)
                if not 1 <= timeout_ms <= MAX_TIMEOUT_MS:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(f"timeout_ms must be a whole number from 1 to {MAX_TIMEOUT_MS}")
                timeout_ms = default_timeout_ms

        return cls(
            service_url=service_url,
            secret=secret,
            timeout_ms=timeout_ms,
            on_error=on_error,
            problem="; ".join(problems) or None,
        )
