"""Dossier: package versions and the exact command to reproduce the run (two sections)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class VersionsView:
    packages: tuple  # PackageVersion (name, version)


@dataclass(frozen=True)
class ReproduceCommand:
    """The run's command rewritten to write to a new folder, and how to compare the two.

    ``out`` and ``new`` are empty when the command is not one that writes a report folder."""

    command: str
    out: str
    new: str
    compare: str
    folder: str = ""  # the folder the commands start in (``cd``), "" when none was needed or found
    relative: bool = False  # paths relative to an unknown folder: the dossier says to run from where the run was


@dataclass(frozen=True)
class ReproduceView:
    seed: int
    command: str
    reproduce: ReproduceCommand


def build_versions(ctx: ReportContext, kit: Kit) -> VersionsView:
    return VersionsView(tuple(ctx.facts.packages))


def build_reproduce(ctx: ReportContext, kit: Kit) -> ReproduceView:
    return ReproduceView(ctx.facts.seed, ctx.facts.command, reproduce_command(
        ctx.facts.command, ctx.facts.generated_at, tuple(i.path for i in ctx.facts.inputs)))


_DEFAULT_OUT = {"demo": "demo-report", "report": "churnlens-report"}


def run_folder(parts: list[str], inputs: tuple[str, ...]) -> str:
    """The folder the command was run from: an input's absolute path minus the relative path the
    command gave for it ("" when no relative argument names an input)."""
    import posixpath

    for path in inputs:
        if not posixpath.isabs(path):
            continue
        for a in parts:
            a = a.split("=", 1)[1] if a.startswith("--") and "=" in a else a
            if a and not a.startswith(("-", "/")) and path.endswith("/" + a.lstrip("./")):
                return path[: -len(a.lstrip("./")) - 1] or "/"
    return ""


def reproduce_command(command: str, generated_at: str, inputs: tuple[str, ...] = ()) -> ReproduceCommand:
    """The run's command rewritten to write to a NEW folder (``<out>-reproduced``) with the same
    ``--generated-at``, and a command comparing the two folders: following the dossier never
    replaces the report under review. With relative paths, both commands start with ``cd`` to the
    folder the run was made from (found from the inputs' absolute paths, ``inputs``), so they work
    from any folder."""
    import shlex

    try:
        parts = shlex.split(command)
    except ValueError:
        parts = []
    at = next((i for i, a in enumerate(parts[1:], 1) if not a.startswith("-")), None)  # the sub-command
    if at is None or parts[at] not in _DEFAULT_OUT:
        return ReproduceCommand(command=command, out="", new="", compare="")
    out, where = _DEFAULT_OUT[parts[at]], None
    for i, a in enumerate(parts):
        if a == "--out" and i + 1 < len(parts):
            out, where = parts[i + 1], i
            break
        if a.startswith("--out="):
            out, where = a.split("=", 1)[1], i
            parts[i:i + 1] = ["--out", ""]
            break
    new = out.rstrip("/") + "-reproduced"
    if where is None:  # default out folder: name the new folder explicitly
        parts[at + 1:at + 1] = ["--out", new]
    else:  # the same command, only the folder changed
        parts[where + 1] = new
    if not any(a == "--generated-at" or a.startswith("--generated-at=") for a in parts) and generated_at:
        parts += ["--generated-at", generated_at]
    compare = f"diff -r -x manifest.json -x 'dossier.*' {shlex.quote(out)} {shlex.quote(new)}"
    folder = run_folder(parts, inputs)
    cd = f"cd {shlex.quote(folder)} && " if folder else ""
    relative = not folder and any(_relative_path(a) for a in parts[at + 1:])
    return ReproduceCommand(command=cd + shlex.join(parts), out=out, new=new, compare=cd + compare, folder=folder,
                            relative=relative)


def _relative_path(arg: str) -> bool:
    """A command argument that reads as a relative file path (``model.txt``, ``in/customers.csv``)."""
    value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
    try:
        float(value)
        return False  # a number (0.5), not a file
    except ValueError:
        pass
    return bool(value) and not value.startswith(("-", "/", "~")) and "://" not in value and (
        "/" in value or "." in Path(value).name)


VERSIONS = Section("versions", "dossier.versions_title", build_versions, "d_versions.html")
REPRODUCE = Section("reproduce", "dossier.reproduce_title", build_reproduce, "d_reproduce.html")
