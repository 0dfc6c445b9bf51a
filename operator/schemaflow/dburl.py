"""The database URL of every command: ``--database-url-file`` or ``$DATABASE_URL``, never a
flag value (flags show in ``ps`` and in Pod specs). An empty value is an error: libpq would
silently fall back to its defaults (the local socket, the OS user's database)."""

from __future__ import annotations

import os
from pathlib import Path

from schemaflow.errors import UsageError


def read_database_url(url_file: Path | str | None) -> str:
    if url_file:
        try:
            url = Path(url_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read --database-url-file {url_file}: "
                             f"{exc.strerror}") from None
        if url:
            return url
        raise UsageError(f"--database-url-file {url_file} is empty")
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise UsageError("no database URL: set DATABASE_URL or pass --database-url-file PATH",
                         hint="e.g. export DATABASE_URL=postgresql://user:password@host:5432/db "
                         "(in Kubernetes, from a Secret via env valueFrom.secretKeyRef)")
    return url
