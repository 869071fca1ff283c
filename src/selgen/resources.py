"""External inputs, fetched once by local rules (compute nodes are often offline) and checked on arrival.

``fetch`` downloads a URL to a path atomically and checks its sha256 or its git blob id (the SHA-1 git gives a
file: ``sha1(b"blob <size>\\0" + content)``, shown by ``git ls-tree`` / the GitHub API, so a file in a public
repository can be pinned without downloading it first); when the download fails (offline, say) the error says
what to place where, so a user can copy the file in by hand.
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


def git_blob_of(path: str | Path) -> str:
    """The git blob id of a file's content (what ``git hash-object`` prints)."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def mismatch(path: str | Path, sha256: str | None = None, git_blob: str | None = None) -> str | None:
    """Why ``path`` fails its pins (None when every given pin matches)."""
    if sha256 and (got := sha256_of(path)) != sha256.lower():
        return f"sha256 {got} does not match the configured {sha256}"
    if git_blob and (got := git_blob_of(path)) != git_blob.lower():
        return f"git blob id {got} does not match the configured {git_blob}"
    return None


def fetch(
    url: str, out: str | Path, sha256: str | None = None, timeout: float = 60, git_blob: str | None = None
) -> Path:
    """Download ``url`` to ``out`` (atomically); with ``sha256`` and/or ``git_blob``, a file that does not
    match is rejected and nothing is left behind. A file already at ``out`` that matches its pins is kept (no
    download)."""
    out = Path(out)
    if out.exists() and (sha256 or git_blob) and mismatch(out, sha256, git_blob) is None:
        return out
    pins = ", ".join(f"{k} {v}" for k, v in (("sha256", sha256), ("git blob", git_blob)) if v)
    with atomic_path(out) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (a configured URL)
                tmp.write_bytes(response.read())
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise InputError(
                f"could not download {url} ({err}); without network, place the file at {out} yourself"
                + (f" ({pins})" if pins else "")
            ) from None
        if why := mismatch(tmp, sha256, git_blob):
            raise InputError(f"{url}: {why}; nothing written to {out}")
    return out
