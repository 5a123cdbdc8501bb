"""Minimal Django settings holding ``OPEN_EDX_FILTERS_CONFIG``, and fixtures to point the steps
at a service.

The filters are the real ones from ``openedx-filters``: tests call
``CertificateCreationRequested.run_filter(...)`` and ``CertificateRenderStarted.run_filter(...)``
exactly as the LMS does, and the library finds our steps through the settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
from django.conf import settings
from django.test.utils import override_settings

# The filter types, as the LMS's settings name them (``fakes`` has them too, but importing it
# needs configured settings).
CREATION = "org.openedx.learning.certificate.creation.requested.v1"
RENDER = "org.openedx.learning.certificate.render.started.v1"


def _configure_django() -> None:
    """Configure Django once, before the test modules (and ``fakes``) import models."""
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
        DATABASES={},
        PLATFORM_NAME="My Campus",
        LANGUAGE_CODE="en",
        OPEN_EDX_FILTERS_CONFIG={
            # Tests point the steps at a service with the ``configure`` fixture.
            CREATION: {"pipeline": ["openedx_pok.steps.CertificateCreationStep"]},
            RENDER: {"pipeline": ["openedx_pok.steps.CertificateRenderStep"]},
        },
    )
    django.setup()


_configure_django()

from fakes import FakeService, filters_config  # noqa: E402 - needs the settings above


@pytest.fixture
def configure() -> Iterator[Callable[..., None]]:
    """Return a function that sets ``OPEN_EDX_FILTERS_CONFIG`` (and other settings) for a test."""
    active: list[override_settings] = []

    def _configure(
        service_url: str | None, /, *, settings_: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        override = override_settings(
            OPEN_EDX_FILTERS_CONFIG=filters_config(service_url, **kw), **(settings_ or {})
        )
        override.enable()
        active.append(override)

    yield _configure
    for override in reversed(active):
        override.disable()


@pytest.fixture
def service() -> Iterator[FakeService]:
    """A fake service on a free local port."""
    fake = FakeService()
    yield fake
    fake.close()
