"""Output folders that never lose anyone's files.

Every folder churnlens writes (a report, a segmentation, a model comparison) is built in a
private staging folder beside the target and moved into place only when complete, so last
month's report is never replaced by a broken one. A folder is recognised as churnlens's own by
its ``manifest.json``: a JSON object whose ``schema`` is ``churnlens.<kind>/<version>`` and whose
``outputs`` lists every file churnlens wrote there (with its SHA-256). A file name alone proves
nothing: a folder holding anything churnlens did not write (or changed since) is refused.

Lifecycle of ``staged_folder(out)``:

1. ``out`` is resolved (a symlink is followed: the link stays and its target is replaced);
   an existing ``out`` must be empty or a churnlens folder of the same kind with nothing
   foreign in it.
2. A staging folder ``.<name>.partial-XXXX`` (mode 0700: it holds customer data) is created
   beside the target, holding a marker file that this process keeps locked (``flock``) for
   the whole run. Staging folders of earlier runs whose lock is free (the run died, even by
   SIGKILL) are removed; a locked one means another run is writing the same ``out`` right now,
   and this run is refused.
3. Recorded inputs inside ``out`` (e.g. ``out/inputs`` of ``churnlens demo``) are hard-linked
   into the staging folder so they survive the replacement.
4. On success the old folder is renamed aside and the staging folder renamed onto the target;
   on any failure (including KeyboardInterrupt / SIGTERM mapped to an exception) the staging
   folder is removed and ``out`` is untouched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

from churnlens.errors import OutputFolderError
from churnlens.redact import redact_tree
from churnlens.io.files import file_kind

MANIFEST = "manifest.json"
STAGING_MARKER = ".churnlens-staging"
SCHEMA_RE = re.compile(r"^churnlens\.([a-z_]+)/(\d+)$")
KIND_NAMES = {"report": "report", "segments": "segmentation", "evaluation": "model comparison"}
_LISTED = 8
_KEPT: dict[Path, set[str]] = {}  # staging folder -> inputs kept in it (recorded by write_manifest)


NAME_MAX = 255  # bytes of one file name on Linux/macOS file systems
_STEM_MAX = 160  # bytes of the target's name kept in a staging name (the rest: a digest)


def aside_prefix(target: Path, tag: str) -> str:
    """Name prefix of the hidden files beside ``target`` (``.NAME.partial-``, ``.NAME.old-``).

    A legal target name of up to 255 bytes would make ``.NAME.partial-XXXXXXXX`` too long for
    the file system: a long name is cut and completed by a digest of the whole name, so the
    prefix stays unique per target and the staging name always fits."""
    name = target.name
    if len(name.encode("utf-8")) > _STEM_MAX:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        cut = name.encode("utf-8", "surrogateescape")[:_STEM_MAX - 17].decode("utf-8", "ignore")
        name = f"{cut}~{digest}"
    return f".{name}.{tag}-"


def schema_name(kind: str, version: int = 1) -> str:
    """The manifest ``schema`` value of a folder of ``kind`` (e.g. ``churnlens.report/1``)."""
    return f"churnlens.{kind}/{version}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> Optional[dict]:
    """The folder's churnlens manifest, or None when it has none (or not one churnlens wrote)."""
    path = Path(folder) / MANIFEST
    if not path.is_file() or path.is_symlink():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("outputs"), dict):
        return None
    if "schema" not in doc and isinstance(doc.get("churnlens_version"), str):
        # report folders written before the schema marker: still churnlens's own only if every
        # file in them is listed with its SHA-256 (checked by foreign_files), never by name alone
        doc = {**doc, "schema": schema_name("report", 0)}
    if not isinstance(doc.get("schema"), str) or not SCHEMA_RE.match(doc["schema"]):
        return None
    return doc


def folder_kind(folder: Path) -> Optional[str]:
    """``"report"``, ``"segments"``, ... for a churnlens folder, else None."""
    doc = read_manifest(folder)
    return None if doc is None else SCHEMA_RE.match(doc["schema"]).group(1)


def output_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in ``folder`` (recursively, posix relative paths, sorted), except
    the manifest itself: what a manifest's ``outputs`` records."""
    folder = Path(folder)
    found = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel not in (MANIFEST, STAGING_MARKER):
            found[rel] = _sha256(p)
    return found


def recorded_inputs(doc: dict, folder: Path) -> set[str]:
    """Relative paths of the manifest's ``inputs`` that lie inside ``folder``, and of the
    inputs it kept there (``kept_inputs``)."""
    inside = {r for r in doc.get("kept_inputs") or () if isinstance(r, str) and ".." not in Path(r).parts}
    for item in doc.get("inputs") or ():
        path = item.get("path") if isinstance(item, dict) else None
        if not isinstance(path, str):
            continue
        rel = _inside(Path(path), folder)
        if rel is not None:
            inside.add(rel)
    return inside


def _inside(path: Path, folder: Path) -> Optional[str]:
    """``path`` relative to ``folder`` (posix) when it lies inside it, else None."""
    real, base = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return real.relative_to(base).as_posix() if real != base and real.is_relative_to(base) else None


def _listing(items: list[str]) -> str:
    more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


def foreign_files(folder: Path, doc: dict) -> list[str]:
    """Entries of ``folder`` churnlens did not write, or changed since (relative paths)."""
    outputs, inputs = doc["outputs"], recorded_inputs(doc, folder)
    known_dirs = {str(Path(r).parent.as_posix()) for r in list(outputs) + list(inputs)}
    known_dirs |= {p for r in known_dirs for p in map(lambda q: q.as_posix(), Path(r).parents)}
    foreign = []
    for p in sorted(Path(folder).rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if rel in (MANIFEST, STAGING_MARKER):
            continue
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            foreign.append(rel)
        elif p.is_dir():
            if rel not in known_dirs:
                foreign.append(rel + "/")
        elif rel in inputs:
            continue
        elif rel not in outputs:
            foreign.append(rel)
        elif outputs[rel] != _sha256(p):
            foreign.append(f"{rel} (changed since churnlens wrote it)")
    # a foreign folder's contents are listed once, as the folder
    dirs = [f for f in foreign if f.endswith("/")]
    return [f for f in foreign if not any(f != d and f.startswith(d) for d in dirs)]


@dataclass(frozen=True)
class FolderCheck:
    """A churnlens folder checked against its manifest's ``outputs`` (SHA-256 per file).

    Attributes
    ----------
    manifest : {"ok", "missing", "unreadable"}
        ``unreadable``: cut, not JSON, or without churnlens's schema marker and outputs.
    changed : tuple of str
        Files whose SHA-256 differs from the manifest (hand-edited since).
    missing : tuple of str
        Files the manifest lists that are gone.
    """

    manifest: str
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.manifest == "ok" and not self.changed and not self.missing

    @property
    def problems(self) -> tuple[str, ...]:
        """Every file at fault (``manifest.json`` itself when it is missing or unreadable)."""
        return ((() if self.manifest == "ok" else (MANIFEST,)) + self.changed + self.missing)


def verify_folder(folder: Path, *, only: Optional[Iterable[str]] = None) -> FolderCheck:
    """Check ``folder``'s files against its manifest's ``outputs`` hashes (``only``: just these
    relative paths, e.g. the files a run reads). Reads each file once, streamed."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return FolderCheck("missing")
    doc = read_manifest(folder)
    if doc is None:
        return FolderCheck("unreadable")
    outputs = doc["outputs"]
    wanted = sorted(outputs if only is None else (r for r in only if r in outputs))
    changed, missing = [], []
    for rel in wanted:
        p = folder / rel
        if not p.is_file():
            missing.append(rel)
        elif not isinstance(outputs[rel], str) or _sha256(p) != outputs[rel]:
            changed.append(rel)
    return FolderCheck("ok", tuple(changed), tuple(missing))


def check_target(out: Path, *, kind: str = "report", shown: Optional[Path] = None) -> Optional[dict]:
    """Refuse a target that is not empty and not a churnlens folder of ``kind`` holding only
    churnlens's own files. Returns the existing manifest (None for a new or empty folder).

    Raises
    ------
    OutputFolderError
        Naming the folder, what is in it and how to fix it.
    """
    shown = shown or out
    if not out.exists():
        blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise OutputFolderError(f"out: {shown} cannot be created: {blocking} is a file, not a folder. Give the "
                                    "path of a new folder.")
        return None
    if not out.is_dir():
        raise OutputFolderError(f"out: {shown} exists and is a file, not a folder; give the path of a new folder.")
    try:
        empty = not any(out.iterdir())
    except PermissionError:
        raise OutputFolderError(f"out: {shown}: permission denied reading the folder; choose a folder you can "
                                "read and write.") from None
    if empty:
        return None
    doc = read_manifest(out)
    if doc is None:
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
        raise OutputFolderError(
            f"out: {shown} is not empty and is not a churnlens {KIND_NAMES.get(kind, kind)} folder (it has no "
            "manifest.json with "
            f"churnlens's schema marker); it holds: {_listing(entries)}. churnlens replaces only folders it wrote "
            "itself: choose a new or empty output folder, so none of these files is deleted."
        )
    found = folder_kind(out)
    if found != kind:
        raise OutputFolderError(
            f"out: {shown} is a churnlens {KIND_NAMES.get(found, found)} folder ({doc['schema']}); this command "
            f"writes a {KIND_NAMES.get(kind, kind)} folder and never replaces a {KIND_NAMES.get(found, found)} folder. "
            "Choose a new output folder."
        )
    foreign = foreign_files(out, doc)
    if foreign:
        raise OutputFolderError(
            f"out: {shown} is a churnlens {KIND_NAMES.get(kind, kind)} folder but also holds files churnlens did "
            f"not write: {_listing(foreign)}. Replacing the folder would delete them: move them elsewhere, or "
            "choose a new output folder."
        )
    return doc


# --- staging: lock, sweep, keep ---------------------------------------------------------------

def _lock_marker(staging: Path, target: Path) -> int:
    """Create the staging marker and hold an exclusive lock on it for the life of the run."""
    fd = os.open(staging / STAGING_MARKER, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"schema": "churnlens.staging/1", "target": target.name, "pid": os.getpid()}).encode())
    return fd


def _marker_pid(marker: Path) -> str:
    with contextlib.suppress(OSError, ValueError, json.JSONDecodeError):
        return str(json.loads(marker.read_text(encoding="utf-8")).get("pid", "?"))
    return "?"


def _sweep(target: Path, own: Path, shown: Path) -> None:
    """Remove staging folders of earlier churnlens runs into ``target`` that died; refuse when
    one is still held by a live run. Only folders carrying churnlens's locked-marker are touched."""
    live = []
    for p in sorted(target.parent.glob(glob_escape(aside_prefix(target, "partial")) + "*")):
        marker = p / STAGING_MARKER
        if p == own or p.is_symlink() or not p.is_dir() or not marker.is_file():
            continue
        try:
            fd = os.open(marker, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EACCES):
                live.append((p, _marker_pid(marker)))
                continue
            raise
        else:
            shutil.rmtree(p, ignore_errors=True)  # the run that made it is gone (killed, crashed)
        finally:
            os.close(fd)
    if live:
        p, pid = live[0]
        raise OutputFolderError(
            f"out: {shown}: another churnlens run (process {pid}) is writing this folder right now (staging "
            f"folder {p.name}). Wait for it to finish, or write to another output folder."
        )
    if target.exists():  # left by a crash between the two renames of an earlier run: its old folder
        for p in sorted(target.parent.glob(glob_escape(aside_prefix(target, "old")) + "*")):
            if p.is_dir() and not p.is_symlink() and read_manifest(p) is not None:
                shutil.rmtree(p, ignore_errors=True)


def _recover(target: Path) -> None:
    """An earlier run died between moving the old folder aside and moving the new one in: put
    the old folder back before anything else."""
    if target.exists() or target.is_symlink():
        return
    olds = [p for p in sorted(target.parent.glob(glob_escape(aside_prefix(target, "old")) + "*"))
            if p.is_dir() and not p.is_symlink() and read_manifest(p) is not None]
    if len(olds) == 1:
        os.replace(olds[0], target)


def _keep(paths: Iterable[str], old: Path, staging: Path) -> None:
    """Hard-link recorded inputs of the old folder into the staging folder (copy if linking fails)."""
    for rel in sorted(set(paths)):
        src, dst = old / rel, staging / rel
        if not src.is_file() or dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _make_staging(target: Path, shown: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=aside_prefix(target, "partial"), dir=target.parent))  # mode 0700
    except PermissionError:
        raise OutputFolderError(
            f"out: {shown}: permission denied creating files in {target.parent}. Choose an output folder "
            "inside a folder you can write to (or ask for write access)."
        ) from None
    except OSError as err:
        if err.errno == errno.EROFS:
            raise OutputFolderError(f"out: {shown}: {target.parent} is on a read-only file system. Choose an "
                                    "output folder on a writable disk.") from None
        raise


def glob_escape(text: str) -> str:
    """``text`` as a literal glob pattern (a folder may be named ``report[1]``)."""
    import glob

    return glob.escape(text)


# --- one output guard: never an input, never inside an input dataset, never a foreign file ------

def _real(p) -> Path:
    return Path(os.path.realpath(os.fspath(p)))


def check_out_vs_inputs(out: str | Path, inputs: Iterable, *, shown: Optional[Path] = None) -> None:
    """Refuse an output path that is an input of the run, or lies inside an input folder (a
    Parquet dataset: a report written into it would be read as data next time). ``inputs``
    may hold None and URLs (skipped). Used by every command, for folders and single files.

    Raises
    ------
    OutputFolderError
        Naming the output and the input.
    """
    shown = shown or Path(out)
    real_out = _real(out)
    for p in inputs:
        if p is None or "://" in str(p):
            continue
        real_in = _real(p)
        same = real_out == real_in
        if not same and os.path.exists(out) and os.path.exists(p):
            with contextlib.suppress(OSError):
                same = os.path.samefile(out, p)  # a hard link is the same file
        if same:
            raise OutputFolderError(f"out: {shown} is an input of this run ({p}); writing it would destroy the "
                                    "input. Choose another output path.")
        if real_in.is_dir() and real_out.is_relative_to(real_in):
            raise OutputFolderError(f"out: {shown} lies inside the input folder {p}; files written there would "
                                    "become part of that dataset the next time it is read. Choose an output "
                                    "outside it.")


ATTRIBUTIONS_MARKER = b"churnlens.attributions"
#: what marks a one-customer explanation churnlens wrote (HTML: a ``<meta name="generator">``;
#: PDF: the first element of the trailer's ``/ID``)
CUSTOMER_MARKER = b"churnlens.customer"
_MARK_SPAN = 4096  # bytes at the start (HTML head) and end (PDF trailer) searched for a marker


def written_by_churnlens(path: Path, marker: bytes) -> bool:
    """Whether the file at ``path`` carries churnlens's ``marker``: in its Parquet metadata,
    or (a document) within its first or last few KB."""
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path).metadata or {}
        schema_meta = pq.read_schema(path).metadata or {}
        if marker in meta or marker in schema_meta:
            return True
    except Exception:  # noqa: BLE001 - not Parquet at all (pyarrow raises several types)
        pass
    try:
        with open(path, "rb") as fh:
            head = fh.read(_MARK_SPAN)
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - _MARK_SPAN))
            tail = fh.read(_MARK_SPAN)
    except OSError:
        return False
    return marker in head or marker in tail


def check_out_file(out: str | Path, *, inputs: Iterable = (), marker: bytes = ATTRIBUTIONS_MARKER) -> None:
    """The output guard for a single-file output (``explain --out FILE.parquet``, ``customer
    --out FILE.pdf``): never an input or inside an input folder, and an existing file is
    replaced only when churnlens wrote it (it carries ``marker``: Parquet metadata, or a
    document's generator mark, see :func:`written_by_churnlens`). Checked before any computation.

    Raises
    ------
    OutputFolderError
        Naming the file and why it is kept.
    """
    out = Path(out)
    check_out_vs_inputs(out, inputs)
    if not out.exists() and not out.is_symlink():
        blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise OutputFolderError(f"out: {out} cannot be created: {blocking} is a file, not a folder.")
        return
    import stat as _stat

    kind = out.suffix or "output"
    st = os.stat(out) if out.exists() else None
    if st is None or not _stat.S_ISREG(st.st_mode):

        what = file_kind(st.st_mode) if st is not None else "a broken link"
        raise OutputFolderError(f"out: {out} is {what}, not a file churnlens wrote; give the path of a new "
                                f"{kind} file.")
    if not written_by_churnlens(out, marker):
        raise OutputFolderError(f"out: {out} exists and was not written by churnlens (it has no churnlens "
                                f"{marker.decode().split('.')[-1]} marker); churnlens replaces only its own files. "
                                "Choose a new file name, or move the file away.")


def resolve_target(out: str | Path) -> Path:
    """The folder actually replaced for ``out``: a symlink's target (the link itself stays)."""
    out = Path(out).absolute()
    return Path(os.path.realpath(out)) if out.is_symlink() else out


def check_out(out: str | Path, *, kind: str) -> None:
    """Fail fast (before any computation) when ``out`` could not be replaced by a ``kind`` folder."""
    check_target(resolve_target(out), kind=kind, shown=Path(out))


@contextlib.contextmanager
def staged_folder(out: str | Path, *, kind: str = "report", keep: Iterable[str | Path] = (),
                  keep_recorded_inputs: bool = True) -> Iterator[Path]:
    """Yield a private staging folder; on success it replaces ``out``, on any error it is removed.

    Parameters
    ----------
    out : path
        Target folder; a symlink is followed.
    kind : str
        What the folder holds (``"report"``, ``"segments"``, ``"evaluation"``): an existing
        folder of another kind is never replaced.
    keep : paths
        Files this run reads that may lie inside ``out`` (model, data, config...): kept.
    keep_recorded_inputs : bool
        Also keep the inputs the old folder's manifest recorded inside it (False for the demo,
        which writes its inputs afresh).

    Raises
    ------
    OutputFolderError
        See :func:`check_target`; another run writing ``out``; a parent folder that cannot be written.
    """
    shown = Path(out)
    target = resolve_target(out)
    _recover(target)
    doc = check_target(target, kind=kind, shown=shown)
    check_out_vs_inputs(target, [p for p in keep if p is not None], shown=shown)
    kept = set()
    for p in keep:
        rel = _inside(Path(p), target) if p is not None else None
        if rel is not None and "/" not in rel:
            raise OutputFolderError(
                f"{p} is an input of this run and lies directly in the output folder {shown}, which the run replaces. Move it "
                "out of that folder (or into a subfolder such as inputs/), or choose another output folder."
            )
        if rel is not None:
            kept.add(rel)
    if doc is not None and keep_recorded_inputs:
        kept |= {r for r in recorded_inputs(doc, target) if "/" in r}
    staging = _make_staging(target, shown)
    fd = None
    try:
        fd = _lock_marker(staging, target)
        _sweep(target, staging, shown)
        if kept:
            _keep(kept, target, staging)
        _KEPT[staging] = kept
        yield staging
        _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        _KEPT.pop(staging, None)
        if fd is not None:
            os.close(fd)


def declare_inputs(staging: Path, paths: Iterable[str]) -> None:
    """Record files the run wrote into ``staging`` as inputs (the demo's ``inputs/``), so that a
    later run into the same folder keeps them."""
    _KEPT.setdefault(Path(staging), set()).update(paths)


def _publish(staging: Path, target: Path) -> None:
    """Move the finished staging folder onto ``target`` (the old folder set aside, then removed)."""
    os.chmod(staging, 0o777 & ~_umask())
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=aside_prefix(target, "old"), dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)  # put last month's report back
        raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target / STAGING_MARKER)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_manifest(folder: Path, kind: str, body: dict, *, default=None) -> dict:
    """Write ``folder/manifest.json``: ``schema``, then ``body``, then ``outputs`` (SHA-256 of every
    other file in the folder). Returns the document written."""
    kept = sorted(_KEPT.get(Path(folder), ()))
    body = redact_tree(body)  # the one redaction: no credential of a URL reaches a manifest
    doc = {"schema": schema_name(kind), **body, **({"kept_inputs": kept} if kept else {}),
           "outputs": output_hashes(folder)}
    (Path(folder) / MANIFEST).write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=default),
                                         encoding="utf-8")
    return doc


def atomic_write_file(path: Path, write) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path`` only if it succeeded."""
    path = Path(path).absolute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=aside_prefix(path, "partial"), dir=path.parent)
    except PermissionError:
        raise OutputFolderError(f"out: {path}: permission denied writing in {path.parent}. Choose a path in a "
                                "folder you can write to.") from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
