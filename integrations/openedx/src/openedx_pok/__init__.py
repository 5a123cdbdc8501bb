"""Open edX pipeline steps that issue course certificates through the openedx-pok service.

Layout:

- ``steps``: the two ``openedx_filters`` pipeline steps the LMS runs; each reads its settings
  from ``conf``, builds a request with ``payloads``, sends it with ``client`` and turns the
  answer into "continue" or the filter's exception.
- ``conf``: settings from the step's ``extra_config`` or Django settings.
- ``payloads``: the JSON documents of the HTTP contract, built from LMS objects with every
  attribute access guarded (the LMS objects vary between releases and accounts).
- ``client``: one HTTP POST with a shared secret and a timeout; every failure becomes a
  ``ServiceError`` whose reason is safe to log.
"""

__version__ = "0.1.0"
