"""Every input file is checked before a byte of it is read: the one gate of every reader.

:func:`check_regular_file` refuses, by kind, anything that is not a regular file (a folder, a
named pipe (FIFO) whose ``open()`` would block forever, a device such as ``/dev/zero`` that never
ends, a socket) and any file larger than the limit of its input kind (:data:`LIMITS`), using
``os.stat`` only: a FIFO is never opened. :func:`read_bytes` opens a checked file without
blocking, checks the open file again (it may have been swapped since) and reads at most the limit.

Limits (MB) per input kind, each raised by an environment variable
``CHURNLENS_MAX_<KIND>_MB`` (e.g. ``CHURNLENS_MAX_DO_NOT_CONTACT_MB=2048``):

=================  =====
config                 1
playbook               1
logo                   5
do_not_contact       256
campaign            1024
outcomes            1024
=================  =====

The customer table and the model have no size limit (they are streamed, or are as large as the
model is), but are checked for their kind the same way.
"""

from __future__ import annotations

import codecs
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from churnlens.errors import InputFileError, UserInputError

MB = 1 << 20
LIMITS = {"config": 1, "playbook": 1, "logo": 5, "do_not_contact": 256, "campaign": 1024, "outcomes": 1024}
NAMES = {"config": "config file", "playbook": "playbook file", "logo": "logo", "do_not_contact": "do-not-contact file",
         "campaign": "campaign file", "outcomes": "outcomes file", "data": "data file", "model": "model file",
         "previous": "file of last month's folder"}


def limit_bytes(kind: str) -> Optional[int]:
    """The size limit of ``kind`` in bytes (None: no limit), ``CHURNLENS_MAX_<KIND>_MB`` applied."""
    env = os.environ.get(f"CHURNLENS_MAX_{kind.upper()}_MB")
    if env:
        try:
            return int(float(env) * MB)
        except ValueError:
            raise UserInputError(f"environment variable CHURNLENS_MAX_{kind.upper()}_MB is {env[:20]!r}; give a "
                                 "number of megabytes, e.g. 2048.") from None
    return LIMITS[kind] * MB if kind in LIMITS else None


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words a user knows."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n / MB:,.1f} MB" if n >= MB else f"{n:,} bytes"


def check_regular_file(path: str | os.PathLike, kind: str, limit: "Optional[int] | str" = "default", *,
                       error: type[UserInputError] = InputFileError, argument: Optional[str] = None,
                       key: Optional[str] = None, what: Optional[str] = None, hint: str = "") -> os.stat_result:
    """Check ``path`` is an existing regular file within the size limit of ``kind``, without
    opening it. Returns its ``os.stat`` result.

    Parameters
    ----------
    kind : str
        Input kind (a key of :data:`NAMES` / :data:`LIMITS`): names the file in messages and
        selects its size limit.
    limit : int or None or "default"
        Bytes; None for no limit; "default" for :func:`limit_bytes` of ``kind``.
    error : type
        Error raised (InputFileError, ConfigError ...), with ``argument`` / ``key``.
    what : str, optional
        How the message names the file (default: ``NAMES[kind]``).

    Raises
    ------
    error
        Missing; a folder, FIFO, device or socket (said so, never "does not exist"); too large.
    """
    where = "" if what else (f"{key}: " if key and not argument else (f"{argument}: " if argument else ""))
    what = what or NAMES.get(kind, kind)
    tail = f" {hint}" if hint else ""
    try:
        st = os.stat(path)  # never open(): open() on a FIFO blocks until a writer comes
    except FileNotFoundError:
        parent = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
        if parent is not None:
            raise error(f"{where}{what} {path} does not exist: {parent} is a file, not a folder.{tail}",
                        argument=argument, key=key) from None
        raise error(f"{where}{what} {path} does not exist.{tail}", argument=argument, key=key) from None
    except NotADirectoryError:
        raise error(f"{where}{what} {path} does not exist: a part of the path is a file, not a folder.{tail}",
                    argument=argument, key=key) from None
    except PermissionError:
        raise error(f"{where}{what} {path} cannot be read: permission denied. Give a file you can read.",
                    argument=argument, key=key) from None
    except OSError as err:
        raise error(f"{where}{what} {path} cannot be read: {err.strerror}.", argument=argument, key=key) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{where}{what} {path} is {file_kind(st.st_mode)}, not a regular file. "
                    f"{hint or 'Give the path of a file.'}", argument=argument, key=key)
    if limit == "default":
        limit = limit_bytes(kind)
    if limit is not None and st.st_size > limit:
        env = f"CHURNLENS_MAX_{kind.upper()}_MB"
        raise error(f"{where}{what} {path} is {_size(st.st_size)}; a {what} may be at most {_size(limit)}. Check "
                    f"that this is the right file, or raise the limit with the environment variable {env}.",
                    argument=argument, key=key)
    return st


@contextmanager
def _opened(path: str | os.PathLike, kind: str, limit: "Optional[int] | str", kw: dict):
    """A file checked by :func:`check_regular_file`, opened without blocking and checked again
    once open (it may have been replaced by a FIFO since): yields (binary file, byte limit,
    error type)."""
    check_regular_file(path, kind, limit, **kw)
    if limit == "default":
        limit = limit_bytes(kind)
    error = kw.get("error", InputFileError)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise error(f"{NAMES.get(kind, kind)} {path} cannot be read: {err.strerror}.",
                    argument=kw.get("argument"), key=kw.get("key")) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{NAMES.get(kind, kind)} {path} is {file_kind(st.st_mode)}, not a regular file.",
                        argument=kw.get("argument"), key=kw.get("key"))
        yield fh, limit, error


def read_bytes(path: str | os.PathLike, kind: str, limit: "Optional[int] | str" = "default", **kw) -> bytes:
    """The bytes of a file checked by :func:`check_regular_file` (same keywords). The file is
    opened without blocking and checked again once open (it may have been replaced by a FIFO
    or grown since), and never more than the limit is read."""
    with _opened(path, kind, limit, kw) as (fh, limit, error):
        data = fh.read(-1 if limit is None else limit + 1)
    if limit is not None and len(data) > limit:
        raise error(f"{NAMES.get(kind, kind)} {path} grew beyond {_size(limit)} while being read.",
                    argument=kw.get("argument"), key=kw.get("key"))
    return data


#: the block a streamed text reader decodes at a time (bytes)
TEXT_BLOCK = 1 << 16


def iter_text_lines(path: str | os.PathLike, kind: str, encoding: str, limit: "Optional[int] | str" = "default",
                    **kw) -> "Iterator[str]":
    """The lines of a text file checked by :func:`check_regular_file` (same keywords), streamed:
    the file is opened without blocking, checked again once open, decoded block by block
    (:data:`TEXT_BLOCK` bytes) and never more than the limit is read. Memory holds one block and
    the line being read, never the file. Lines are split as :meth:`str.splitlines` splits them
    (``\\r\\n``, ``\\r``, ``\\n`` and Unicode line boundaries), without their line ends."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with _opened(path, kind, limit, kw) as (fh, limit, error):
        done, rest, carry = 0, [], ""
        while True:
            block = fh.read(TEXT_BLOCK)
            done += len(block)
            if limit is not None and done > limit:
                raise error(f"{NAMES.get(kind, kind)} {path} grew beyond {_size(limit)} while being read.",
                            argument=kw.get("argument"), key=kw.get("key"))
            text = carry + decoder.decode(block, final=not block)
            carry = ""
            if block and text.endswith("\r"):  # its "\n" may open the next block: one line end, not two
                text, carry = text[:-1], "\r"
            for piece in text.splitlines(keepends=True):
                if piece[-1] not in _LINE_ENDS:  # the block ends inside this line
                    rest.append(piece)
                    continue
                line = "".join(rest) + piece if rest else piece
                rest = []
                yield line.rstrip(_LINE_ENDS)
            if not block:
                if rest:
                    yield "".join(rest)
                return


_LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines splits
