"""Atomic report folders: everything is written to a staging folder beside the target and
moved into place only when complete, so last month's report is never replaced by a broken one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from churnlens.errors import InputFileError

MARKER = "manifest.json"  # a folder holding this is a churnlens report folder


def check_target(out: Path) -> None:
    """Refuse to replace a folder that is not a churnlens report (it may hold the user's files)."""
    if out.exists():
        if not out.is_dir():
            raise InputFileError(f"out: {out} exists and is a file; give a folder path.", argument="out")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise InputFileError(
                f"out: {out} exists, is not empty and is not a churnlens report folder (no {MARKER}); "
                "choose a new or empty folder so no file of yours is replaced.", argument="out",
            )


@contextlib.contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``out``, on error it is removed.

    The staging folder is a sibling of ``out`` so the final rename stays on one file system.
    """
    out = Path(out).absolute()
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)  # put last month's report back
        shutil.rmtree(staging, ignore_errors=True)
        raise
    os.chmod(out, 0o755)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_file(path: Path, write) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path`` only if it succeeded."""
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.partial-", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
