"""A 10,000-customer book end to end, against the previous release in the same run (issue 34 item 3).

The public bank book (``/work/shared/data/bank_churn_modelling.csv``) with the LightGBM model a
bank's data scientist would train (``/work/shared/tools/build_books.py``) goes through
``churnlens report`` (HTML + PDF, one language) in a fresh child process per run, as a user
runs it. For each run the script prints:

- **end to end**: wall time from spawning the process to its exit;
- **start-up**: from spawning the process to the start of the run's first step (interpreter,
  imports, argument and config parsing);
- each step's seconds and the reports stage (the run's ``--verbose`` timings log);
- **both languages**: ``churnlens.run(...)`` then ``write(lang="en")`` and ``write(lang="zh")``
  in one process (the Python API; the command line writes one language per run), as a ratio to
  the same process writing English only;
- **CPU seconds** of each child process and the report writers it forks (``RUSAGE_CHILDREN``):
  on a shared machine the wall times stretch with the load, the CPU seconds much less;
- the **serial CPU breakdown**: one process, ``CHURNLENS_SERIAL=1``, ``time.process_time`` of
  ``import churnlens``, ``churnlens.run`` (compute) and ``write`` (English), and of each step;
- **cold**: the first run after install, with empty numba, matplotlib and fontconfig caches
  (``NUMBA_CACHE_DIR``, ``MPLCONFIGDIR``, ``XDG_CACHE_HOME`` pointed at new folders), as a ratio
  to a warm run.

The same figures are measured for the previous release (``--reference REF``, a git ref; default
the last tag, else the merge-base of HEAD with ``main``), whose tree is exported with
``git archive`` into the work folder, laid out as installed (the ``package-dir`` table of its
``pyproject.toml``) and run with the same interpreter and ``PYTHONPATH``, so both use the very
same third-party libraries. Current and reference runs are interleaved (``--repeats`` rounds);
medians and ratios are printed. On a shared machine compare the ratios, not the seconds.

Usage::

    .venv/bin/python benchmarks/bench_small_book.py [--reference REF] [--repeats 3] [--workdir DIR]
        [--no-cold] [--no-reference] [--cpu-only]

Targets (quiet 2-core machine, warm caches): end to end <= 6 s, reports <= 2.5 s, start-up
<= 1 s, both languages <= 1.5x one, cold <= 2x warm.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD_BOOKS = Path("/work/shared/tools/build_books.py")
GENERATED_AT = "2026-01-01T00:00:00Z"

# Runs inside the child: records when the run's first step starts, then runs the CLI or the API.
CHILD = r"""
import json, os, sys, time
GEN = %r
spawn = float(os.environ["BENCH_SPAWN"])
first = []
mode, out = sys.argv[1], sys.argv[2]
args = sys.argv[3:]

def hook():
    try:
        from churnlens.run import step as st
    except ImportError:  # a release before the declared-steps flow: no start-up figure
        return
    inner = st._run_one

    def timed(*a, **k):
        if not first:
            first.append(time.time())
        return inner(*a, **k)

    st._run_one = timed

if mode == "cli":
    import importlib.util, runpy
    # the CLI's own import chain runs before the hook's import is used by the run: import the
    # step module only once the CLI has imported it itself (at the first call of its dispatch)
    from churnlens import cli
    dispatch = cli._dispatch

    def dispatched(*a, **k):
        hook()
        return dispatch(*a, **k)

    cli._dispatch = dispatched
    code = cli.main(args)
elif mode == "api-cpu":  # one process, one step at a time: CPU seconds per phase and per step
    os.environ["CHURNLENS_SERIAL"] = "1"
    t0 = time.process_time()
    import churnlens
    from churnlens.run import step as st
    steps = {}
    inner = st._run_one

    def timed(s, *a, **k):
        c0 = time.process_time()
        res = inner(s, *a, **k)
        steps[s.name] = time.process_time() - c0
        return res

    st._run_one = timed
    model, data, config = args[:3]
    t1 = time.process_time()
    r = churnlens.run(model, data, config)
    t2 = time.process_time()
    r.write(os.path.join(out, "en"), lang="en", generated_at=GEN)
    t3 = time.process_time()
    print(json.dumps({"code": 0, "startup": None, "cpu": {"import churnlens": t1 - t0, "compute": t2 - t1,
                                                          "write": t3 - t2, "steps": steps}}))
    sys.exit(0)
else:
    import churnlens
    hook()
    model, data, config = args[:3]
    r = churnlens.run(model, data, config)
    langs = ("en", "zh") if mode == "api-both" else ("en",)
    for lang in langs:
        r.write(os.path.join(out, lang), lang=lang, generated_at=GEN)
    code = 0
print(json.dumps({"code": code, "startup": (first[0] - spawn) if first else None}))
""" % GENERATED_AT


def sh(*cmd, cwd=ROOT) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def default_reference() -> str:
    tags = sh("git", "tag", "--sort=-creatordate").split()
    if tags:
        return tags[0]
    return sh("git", "merge-base", "HEAD", "main")


def lay_out(src: Path, dest: Path) -> None:
    """Copy a source tree into ``dest`` as setuptools installs it (``package-dir`` mapping)."""
    spec = tomllib.loads((src / "pyproject.toml").read_text())
    mapping = spec.get("tool", {}).get("setuptools", {}).get("package-dir", {"churnlens": "churnlens"})
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    if dest.exists():
        shutil.rmtree(dest)
    for package, folder in sorted(mapping.items(), key=lambda kv: kv[0].count(".")):
        shutil.copytree(src / folder, dest.joinpath(*package.split(".")), ignore=ignore, dirs_exist_ok=True)


def export(ref: str, dest: Path) -> str:
    """``git archive`` of ``ref`` laid out under ``dest/pkgroot``; returns the commit."""
    commit = sh("git", "rev-parse", "--verify", f"{ref}^{{commit}}")
    src = dest / "src"
    if not (dest / "commit").exists() or (dest / "commit").read_text() != commit:
        shutil.rmtree(dest, ignore_errors=True)
        src.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        lay_out(src, dest / "pkgroot")
        (dest / "commit").write_text(commit)
    return commit


class Version:
    def __init__(self, name: str, pkgroot: Path, caches: Path):
        self.name, self.pkgroot, self.caches = name, pkgroot, caches

    def env(self, *, cold_dir: Path | None = None) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.pkgroot)
        env["MPLBACKEND"] = "Agg"
        base = cold_dir if cold_dir is not None else self.caches
        for var, sub in (("NUMBA_CACHE_DIR", "numba"), ("MPLCONFIGDIR", "mpl"), ("XDG_CACHE_HOME", "xdg")):
            (base / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(base / sub)
        env.pop("CHURNLENS_SERIAL", None)
        return env


def run_child(version: Version, mode: str, out: Path, args: list[str], *, cold_dir: Path | None = None) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = version.env(cold_dir=cold_dir)
    env["BENCH_SPAWN"] = repr(time.time())
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(out), *args], env=env, capture_output=True,
                          text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child and the writers it forked and waited for
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{version.name} {mode} failed (exit {proc.returncode})")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    stages = {m.group(1): float(m.group(2))
              for m in re.finditer(r"^churnlens: ([\w ,./-]+): (\d+\.\d+) s$", proc.stderr, re.M)}
    return {"wall": wall, "cpu": cpu, "startup": res["startup"], "stages": stages, "phases": res.get("cpu")}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", default=None, help="git ref of the previous release (default: last tag, "
                    "else merge-base of HEAD with main)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "churnlens-bench-small")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-cache runs")
    ap.add_argument("--no-reference", action="store_true", help="measure the working tree only")
    ap.add_argument("--lang", default="en", choices=("en", "zh"), help="language of the one-language runs")
    ap.add_argument("--cpu-only", action="store_true", help="only the serial CPU breakdown (one process, "
                    "CHURNLENS_SERIAL=1, time.process_time per phase and step), the figure least moved by load")
    args = ap.parse_args()

    wd = args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    book = wd / "books" / "bank"
    if not (book / "lgbm.txt").exists():
        print("training the bank book's models (build_books.py) ...", flush=True)
        subprocess.run([sys.executable, str(BUILD_BOOKS), str(wd / "books")], check=True)
    model, data, config = str(book / "lgbm.txt"), str(book / "book.csv"), str(book / "bank.yaml")

    lay_out(ROOT, wd / "current" / "pkgroot")
    versions = [Version("current", wd / "current" / "pkgroot", wd / "current" / "caches")]
    if not args.no_reference:
        ref = args.reference or default_reference()
        commit = export(ref, wd / "reference")
        versions.append(Version("reference", wd / "reference" / "pkgroot", wd / "reference" / "caches"))
        print(f"reference: {ref} = {commit[:12]}", flush=True)
    head = sh("git", "rev-parse", "--short", "HEAD")
    dirty = " (+ uncommitted changes)" if sh("git", "status", "--porcelain", "--untracked-files=no") else ""
    print(f"current: working tree at {head}{dirty}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)

    cli = ["report", "--model", model, "--data", data, "--config", config, "--lang", args.lang,
           "--generated-at", GENERATED_AT, "--quiet", "--verbose"]
    api = [model, data, config]
    results: dict[str, dict[str, list]] = {v.name: {"warm": [], "one": [], "both": [], "cold": []} for v in versions}

    for v in versions:  # warm-up: fills each version's numba / matplotlib / font caches
        run_child(v, "cli", wd / "out" / v.name, cli + ["--out", str(wd / "out" / v.name)])
    cpu_rounds: dict[str, list] = {v.name: [] for v in versions}
    for i in range(args.repeats):
        for v in (versions if i % 2 == 0 else versions[::-1]):
            cpu_rounds[v.name].append(run_child(v, "api-cpu", wd / "out" / v.name, api)["phases"])
    print(f"\nserial CPU seconds in one process (CHURNLENS_SERIAL=1), medians of {args.repeats}:")
    print(f"{'':<40}" + "".join(f" {v.name:>10}" for v in versions))
    first = cpu_rounds[versions[0].name][0]
    rows = ["import churnlens", "compute", "write"] + [f"  {n}" for n in sorted(
        first["steps"], key=lambda n: -first["steps"][n])[:10]]
    for row in rows:
        vals = [median([(x["steps"].get(row.strip()) if row.startswith("  ") else x[row]) for x in cpu_rounds[v.name]])
                for v in versions]
        print(f"{row:<40}" + "".join(f" {x:10.2f}" for x in vals))
    if args.cpu_only:
        return
    for i in range(args.repeats):
        for v in (versions if i % 2 == 0 else versions[::-1]):  # ABBA: neither version always runs first
            out = wd / "out" / v.name
            results[v.name]["warm"].append(run_child(v, "cli", out, cli + ["--out", str(out)]))
            results[v.name]["one"].append(run_child(v, "api-one", out, api))
            results[v.name]["both"].append(run_child(v, "api-both", out, api))
            if not args.no_cold:
                cold = Path(tempfile.mkdtemp(prefix="cold-", dir=wd))
                results[v.name]["cold"].append(run_child(v, "cli", out, cli + ["--out", str(out)], cold_dir=cold))
                shutil.rmtree(cold, ignore_errors=True)
            w = results[v.name]["warm"][-1]
            print(f"  round {i + 1} {v.name:<9}: warm {w['wall']:.2f} s / {w['cpu']:.2f} CPU-s (start-up {w['startup'] or float('nan'):.2f} s, "
                  f"reports {w['stages'].get('reports', float('nan')):.2f} s), "
                  f"API en {results[v.name]['one'][-1]['wall']:.2f} s, en+zh {results[v.name]['both'][-1]['wall']:.2f} s"
                  + (f", cold {results[v.name]['cold'][-1]['wall']:.2f} s" if not args.no_cold else ""), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")

    summary = {}
    for v in versions:
        r = results[v.name]
        names = list(r["warm"][0]["stages"])
        summary[v.name] = s = {
            "end to end (warm)": median([x["wall"] for x in r["warm"]]),
            "end to end (warm), CPU seconds": median([x["cpu"] for x in r["warm"]]),
            "start-up before the first step": median([x["startup"] for x in r["warm"]]),
            **{f"  {n}": median([x["stages"].get(n) for x in r["warm"]]) for n in names},
            "API: run + write en": median([x["wall"] for x in r["one"]]),
            "API: run + write en and zh": median([x["wall"] for x in r["both"]]),
            "API: run + write en, CPU seconds": median([x["cpu"] for x in r["one"]]),
            "API: run + write en and zh, CPU seconds": median([x["cpu"] for x in r["both"]]),
        }
        if not args.no_cold:
            s["end to end, cold caches"] = median([x["wall"] for x in r["cold"]])
            s["end to end, cold caches, CPU seconds"] = median([x["cpu"] for x in r["cold"]])
    names = list(summary["current"])
    print(f"\nmedians of {args.repeats} interleaved runs (seconds)")
    print(f"{'':<40} {'current':>9}" + (f" {'reference':>10} {'ratio':>7}" if len(versions) > 1 else ""))
    for n in names:
        cur = summary["current"][n]
        line = f"{n:<40} {cur:9.3f}"
        if len(versions) > 1:
            ref = summary["reference"].get(n, float("nan"))
            line += f" {ref:10.3f} {cur / ref if ref else float('nan'):7.2f}"
        print(line)
    for v in versions:
        s = summary[v.name]
        both = s["API: run + write en and zh"] / s["API: run + write en"]
        both_cpu = s["API: run + write en and zh, CPU seconds"] / s["API: run + write en, CPU seconds"]
        print(f"\n{v.name}: both languages / one = {both:.2f} wall, {both_cpu:.2f} CPU (target <= 1.5)")
        if not args.no_cold:
            print(f"{v.name}: cold / warm = {s['end to end, cold caches'] / s['end to end (warm)']:.2f} wall, "
                  f"{s['end to end, cold caches, CPU seconds'] / s['end to end (warm), CPU seconds']:.2f} CPU (target <= 2)")
        print(f"{v.name}: end to end {s['end to end (warm)']:.2f} s (target <= 6), reports "
              f"{s.get('  reports', float('nan')):.2f} s (<= 2.5), start-up "
              f"{s['start-up before the first step']:.2f} s (<= 1)")
    if len(versions) > 1:
        c, r = summary["current"], summary["reference"]
        print(f"\ncurrent / reference, end to end warm: {c['end to end (warm)'] / r['end to end (warm)']:.2f} wall, "
              f"{c['end to end (warm), CPU seconds'] / r['end to end (warm), CPU seconds']:.2f} CPU")


if __name__ == "__main__":
    main()
