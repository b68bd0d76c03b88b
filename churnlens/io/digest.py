"""SHA-256 of input files, for fingerprints in the manifest and the dossier."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, streamed; a file unchanged since (same size and modification
    time) is hashed once per process (the manifest names the data file twice)."""
    st = os.stat(path)
    return _sha256(str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns, chunk)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, inode: int, size: int, mtime_ns: int, chunk: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
