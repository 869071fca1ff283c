"""External inputs, fetched once by local rules (compute nodes are often offline) and checked on arrival.

``fetch`` downloads a URL to a path atomically and checks its sha256; when the download fails (offline, say)
the error says what to place where, so a user can copy the file in by hand.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from selgen.io import InputError, atomic_path


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, out: str | Path, sha256: str | None = None, timeout: float = 60) -> Path:
    """Download ``url`` to ``out`` (atomically); with ``sha256``, a file that does not match is rejected and
    nothing is left behind. A file already at ``out`` with the right hash is kept (no download)."""
    out = Path(out)
    if out.exists() and sha256 and sha256_of(out) == sha256:
        return out
    with atomic_path(out) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (a configured URL)
                tmp.write_bytes(response.read())
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise InputError(
                f"could not download {url} ({err}); without network, place the file at {out} yourself"
                + (f" (sha256 {sha256})" if sha256 else "")
            ) from None
        if sha256 and (got := sha256_of(tmp)) != sha256:
            raise InputError(f"{url}: sha256 {got} does not match the configured {sha256}; nothing written")
    return out
