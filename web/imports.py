"""Starting list imports from a request: the upload is queued and a thread runs it.

Shared by the API and the UI. Uploads are spooled encrypted
(:class:`EncryptedUploadRequest`). The thread belongs to the web worker that took the
upload; if that worker stops, the scheduler's ``consent.run-imports`` job resumes
the import after its last batch. Uploads may be larger than the service-wide
request limit, on these routes only.
"""

from __future__ import annotations

import logging
import threading
from typing import IO

from flask import Request, request

from consent.sealed_file import EncryptedSpool
from web.runtime import Runtime, runtime

log = logging.getLogger("sendgate.imports")

# Rejected rows shown with an import; the rest are paged through the API.
REJECTED_SHOWN = 1000
# Endpoints that take a whole list in one upload.
UPLOAD_ENDPOINTS = frozenset({"consent.import_list", "consent_ui.imports"})


class EncryptedUploadRequest(Request):
    """Spools file uploads encrypted: a list holds addresses and IPs, which must not
    reach the disk in clear, not even in a temporary file."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return EncryptedSpool(runtime().settings.var_dir / "imports")


def allow_large_uploads() -> None:
    """``before_request`` hook: raise the body limit for list uploads only."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = runtime().settings.import_max_mb * 1024 * 1024


def start(rt: Runtime, import_id: str, *, wait: float = 0) -> None:
    """Run a queued import in a background thread; wait up to ``wait`` seconds for it."""
    runner = threading.Thread(
        target=_run, args=(rt, import_id), name=f"import-{import_id[:8]}", daemon=True
    )
    runner.start()
    if wait:
        runner.join(timeout=wait)


def _run(rt: Runtime, import_id: str) -> None:
    try:
        rt.imports.run(import_id)
    except Exception:
        # The job stays "running"; the scheduler resumes it once its heartbeat is stale.
        log.exception("import %s stopped; it resumes from its last batch", import_id)
