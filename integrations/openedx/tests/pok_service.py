"""Runs the real ``openedx-pok`` binary in demo mode for the end-to-end tests.

Everything the tests assume about the binary lives here, so that it is cheap to adapt:

- the command line: ``openedx-pok demo --listen 127.0.0.1:PORT --sim-listen 127.0.0.1:PORT2
  --database sqlite:///PATH --secret SECRET --emit-after-polls 3``, which links
  ``course-v1:edX+DemoX+Demo_Course`` to the simulator's template ``tpl-simple`` (no custom
  parameters, no default template for other courses) and serves ``GET /health`` once ready;
- the simulator's ``GET /_sim/stats``: ``{"credentials_by_tags": [{"student_id": "42",
  "course_id": "course-v1:...", "count": 1}, ...], ...}`` (``crates/pok-sim/src/state.rs``);
- how to tell the service's pages apart (:func:`page_kind`, after
  ``crates/http-adapter/templates``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from fakes import free_port

REPO = Path(__file__).resolve().parents[3]
DEFAULT_BIN = REPO / "target" / "debug" / "openedx-pok"
DEMO_COURSE = "course-v1:edX+DemoX+Demo_Course"
START_TIMEOUT_S = 60.0


def binary_path() -> Path:
    """The binary under test: ``$OPENEDX_POK_BIN``, else ``<repo>/target/debug/openedx-pok``."""
    return Path(os.environ.get("OPENEDX_POK_BIN") or DEFAULT_BIN)


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET ``url`` and return its status and body (no proxies: everything is local)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class PokService:
    """One ``openedx-pok demo`` process with its simulator, on free ports, on its own SQLite."""

    def __init__(self, workdir: Path, secret: str) -> None:
        """Prepare (not start) a service whose files go to ``workdir``."""
        self.workdir = workdir
        self.secret = secret
        self.port = free_port()
        self.sim_port = free_port()
        while self.sim_port == self.port:
            self.sim_port = free_port()
        self.log_path = workdir / "openedx-pok.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def sim_url(self) -> str:
        """The simulator's base URL."""
        return f"http://127.0.0.1:{self.sim_port}"

    def command(self) -> list[str]:
        """The command line that starts the demo."""
        return [
            str(binary_path()),
            "demo",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--sim-listen",
            f"127.0.0.1:{self.sim_port}",
            "--database",
            f"sqlite://{self.workdir / 'openedx-pok.db'}",
            "--secret",
            self.secret,
            "--emit-after-polls",
            # The third poll emits (a few seconds), leaving the test time to see "processing".
            "3",
        ]

    def shown_command(self) -> str:
        """The command line as it may be shown: without the secret."""
        return " ".join("***" if arg == self.secret else arg for arg in self.command())

    def log_tail(self, lines: int = 40) -> str:
        """The end of the service's output, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"

    def start(self) -> None:
        """Start the process and wait until ``/health`` and the simulator answer.

        Raises:
            RuntimeError: the binary is missing, exited, or was not ready in time.

        """
        binary = binary_path()
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise RuntimeError(
                f"the openedx-pok binary was not found at {binary}: build it first "
                "(cargo build) or set OPENEDX_POK_BIN to its path"
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POK_", "OPENEDX_POK_"))}
        env.pop("DATABASE_URL", None)
        with self.log_path.open("wb") as log:
            # cwd: a directory of our own, so that no ./openedx-pok.toml is picked up.
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"openedx-pok demo exited with code {code} before it was ready.\n"
                    f"command: {self.shown_command()}\n{self.log_tail()}"
                )
            if self._ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"openedx-pok demo was not ready within {START_TIMEOUT_S:.0f} s.\n{self.log_tail()}"
        )

    def _ready(self) -> bool:
        """Whether the service's ``/health`` and the simulator's stats answer 200."""
        try:
            return (
                _get(f"{self.url}/health", 1.0)[0] == 200
                and _get(f"{self.sim_url}/_sim/stats", 1.0)[0] == 200
            )
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def sim_stats(self) -> dict[str, Any]:
        """The simulator's counters."""
        status, body = _get(f"{self.sim_url}/_sim/stats")
        if status != 200:
            raise RuntimeError(f"GET /_sim/stats answered {status}")
        return json.loads(body)

    def credentials_for(self, user_id: int, course_key: str) -> int:
        """How many credentials the simulator created for this learner in this course."""
        return credentials_for(self.sim_stats(), user_id, course_key)

    def wait_for_credentials(
        self, user_id: int, course_key: str, at_least: int = 1, timeout_s: float = 30.0
    ) -> int:
        """Wait until the simulator holds ``at_least`` credentials for the pair; return the count.

        Returns the last count seen, which is below ``at_least`` after a timeout.
        """
        deadline = time.monotonic() + timeout_s
        count = 0
        while time.monotonic() < deadline:
            count = self.credentials_for(user_id, course_key)
            if count >= at_least:
                return count
            time.sleep(0.25)
        return count


def credentials_for(stats: dict[str, Any], user_id: int, course_key: str) -> int:
    """Count the credentials of ``stats`` tagged ``StudentId:<user_id>`` and ``CourseId:<key>``.

    The shape is ``crates/pok-sim``'s ``Stats``: a list ``credentials_by_tags`` of
    ``{"student_id", "course_id", "count"}``.
    """
    return sum(
        int(entry.get("count", 0))
        for entry in stats.get("credentials_by_tags", [])
        if str(entry.get("student_id")) == str(user_id) and entry.get("course_id") == course_key
    )


def page_kind(status: int, body: str) -> str:
    """Tell the service's pages apart: processing, emitted, preview, revoked or error.

    After ``crates/http-adapter/templates``: the processing page refreshes itself, the emitted
    page has a download link, the preview page a preview link, the revoked page answers 410.
    """
    if status == 410:
        return "revoked"
    if status >= 400:
        return "error"
    if 'http-equiv="refresh"' in body:
        return "processing"
    if 'class="download"' in body:
        return "emitted"
    if 'class="preview"' in body:
        return "preview"
    return "unknown"
