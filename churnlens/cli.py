"""churnlens command line: the only place that turns library errors into messages and exit codes.

Exit codes: 0 success; 2 bad input, configuration or environment the user can fix (a message
naming the file, column, key or folder and how to fix it; no traceback); 1 an internal fault
(one line, plus the hint to rerun with ``--debug`` for the traceback); 130 interrupted (Ctrl-C),
143 terminated (SIGTERM). ``--debug`` prints the traceback of any error; ``--verbose`` logs
run timings to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import errno
import os
import shlex
import sys
import threading
from pathlib import Path
from typing import Optional, Sequence

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2

# Library errors name the API's arguments (``err.argument``); users of the CLI know the flags.
FLAGS = {
    "model": "--model", "data": "--data", "config": "--config", "out": "--out", "previous": "--previous",
    "campaign": "--campaign", "attributions": "--attributions", "formats": "--format", "lang": "--lang",
    "generated_at": "--generated-at", "trust_model": "--trust-model", "model_format": "--model-format",
    "attribute": "--attribute", "engine": "--engine", "scheduler": "--scheduler", "n_customers": "--customers",
    "seed": "--seed", "query": "--query", "encoding": "--encoding", "period": "--period",
    "outcomes": "--outcomes", "history": "--history", "data_for": "--data-for", "report": "--report",
}


def _add_global(p: argparse.ArgumentParser, *, default) -> None:
    """Options accepted before or after the command (``default=SUPPRESS`` on sub-commands so a
    sub-command does not reset what was given before it)."""
    p.add_argument("--debug", action="store_true", default=default,
                   help="print the full traceback of any error (for bug reports)")
    p.add_argument("--verbose", action="store_true", default=default,
                   help="log what the run does and how long each stage took, to stderr")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true",
                   help="print one machine-readable summary line (JSON) on stdout: status, exit code, out, counts, paths")
    _add_global(p, default=argparse.SUPPRESS)


def _add_model_data(p: argparse.ArgumentParser, *, many_models: bool = False) -> None:
    if many_models:
        p.add_argument("--model", required=True, action="append", metavar="PATH",
                       help="model file or MLflow URI; repeat to compare several models")
    else:
        p.add_argument("--model", required=True, metavar="PATH",
                       help="LightGBM .txt/.json, XGBoost .json/.ubj, .skops, .joblib/.pkl (with --trust-model), "
                            "or an MLflow URI models:/NAME/STAGE, models:/NAME/VERSION, runs:/RUN_ID/PATH")
    # no type=Path: a database URL (sqlite:///x.db) must reach the library as written
    p.add_argument("--data", metavar="PATH",
                   help="customer table: CSV or Parquet file, a folder of Parquet files, or a SQLAlchemy URL with "
                        "--query (default: data.path / data.url in the config)")
    p.add_argument("--query", metavar="SQL", help="SQL selecting the customer table when --data is a database URL")
    p.add_argument("--encoding", metavar="NAME",
                   help="text encoding of a CSV --data: utf-8 (default, BOM allowed), utf-8-sig, gbk, gb18030, latin-1")
    p.add_argument("--config", type=Path, metavar="YAML", help="configuration YAML (docs/config.md)")
    p.add_argument("--trust-model", action="store_true",
                   help="allow unpickling joblib/pickle models (runs code from the file: only for files you trust)")
    p.add_argument("--model-format", choices=("lightgbm", "xgboost", "skops", "pickle"),
                   help="override the format detected from the model file")


def _add_report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="report language (default en)")
    p.add_argument("--format", default="html,pdf", metavar="html,pdf", help="documents to write (default html,pdf)")
    p.add_argument("--generated-at", metavar="ISO8601",
                   help="timestamp printed in the reports (default: SOURCE_DATE_EPOCH or now); fix it for reproducible output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="churnlens",
        description="Explain a trained churn model: exact SHAP attributions, churner segments, retention actions, reports.",
    )
    _add_global(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="build the demo customer book and model, then run the report on them",
                       description="Generate the synthetic demo bank (customers, model, config) and run exactly "
                                   "the `report` code path on it. The inputs are kept in DIR/inputs.")
    p.add_argument("--out", type=Path, default=Path("demo-report"), metavar="DIR", help="report folder (default demo-report)")
    p.add_argument("--customers", type=int, default=50_000, metavar="N", help="customers in the demo book (default 50000)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    _add_report_options(p)
    _add_common(p)

    p = sub.add_parser("report", help="write the monthly report folder (docs/report-folder.md)",
                       description="Score, explain and segment customers; write report, dossier, retention list and artifacts.")
    _add_model_data(p)
    p.add_argument("--out", type=Path, default=Path("churnlens-report"), metavar="DIR", help="report folder")
    p.add_argument("--previous", type=Path, metavar="DIR", help="last month's report folder (stability, migration)")
    p.add_argument("--strict", action="store_true",
                   help="refuse (exit 2) when --previous does not match its manifest's hashes, instead of a warning")
    p.add_argument("--campaign", type=Path, metavar="PATH", help="campaign outcomes: customer id, arm, observed churn")
    p.add_argument("--outcomes", type=Path, metavar="PATH",
                   help="observed churn (id, churned 0/1) of last month's customers: back-test of the scores and "
                        "list in --previous, measured campaign effect and uplift")
    p.add_argument("--history", type=Path, metavar="DIR",
                   help="folder of earlier months' report folders: trend page (AUC/KS, PSI, segments, drivers)")
    p.add_argument("--attribute", choices=("targeted", "all"),
                   help="exact attributions for the selected churners plus a uniform sample (targeted, default), "
                        "or for every customer (all); overrides attribution.mode in the config")
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="run scoring and attributions here (local) or over partitions on Dask distributed")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address (tcp://host:8786); without it --engine dask starts a local cluster")
    p.add_argument("--period", type=_period, metavar="YYYY-MM", help="reporting period (overrides report.period)")
    _add_report_options(p)
    _add_common(p)

    p = sub.add_parser("explain", help="write exact SHAP attributions to Parquet")
    _add_model_data(p)
    p.add_argument("--out", type=Path, required=True, metavar="FILE.parquet", help="attributions file to write")
    _add_common(p)

    p = sub.add_parser("segment", help="segment churners from an attributions file")
    p.add_argument("--attributions", type=Path, required=True, metavar="FILE.parquet", help="from `churnlens explain`")
    p.add_argument("--config", type=Path, metavar="YAML")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for segments.csv")
    _add_common(p)

    p = sub.add_parser("evaluate", help="model quality (ROC, KS, lift, confusion); compare models and name a champion")
    _add_model_data(p, many_models=True)
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the comparison")
    p.add_argument("--data-for", action="append", default=[], metavar="MODEL=PATH",
                   help="score MODEL (its file name) on its own encoding of the --data customers; repeat per model")
    p.add_argument("--format", default="html,pdf", metavar="html,pdf", help="pages to write (default html,pdf)")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the page (default en)")
    p.add_argument("--generated-at", metavar="ISO8601", help="timestamp recorded (default: SOURCE_DATE_EPOCH or now)")
    _add_common(p)

    p = sub.add_parser("customer", help="write one customer's explanation (English and Chinese) from a report folder",
                       description="One page, English and Chinese, explaining one customer's churn probability from "
                                   "a report folder: data used, main reasons with sizes, what would change the outcome, "
                                   "the action proposed, how to refuse personalised marketing, and the month's model "
                                   "and data fingerprints. Only that customer's rows are read.")
    p.add_argument("customer_id", metavar="ID", help="customer id as in the customer table (leading zeros kept)")
    p.add_argument("--report", type=Path, required=True, metavar="DIR", help="report folder written by churnlens report")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="explanation file, .pdf or .html (default explanation-ID.pdf here); an existing file is "
                        "replaced only when churnlens wrote it")
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="language printed first (both are on the page; default en)")
    _add_common(p)

    p = sub.add_parser("validate", help="check that model, data and config fit together; writes nothing",
                       description="Run every check `report` runs before scoring (data, model, config, playbook, "
                                   "do-not-contact list, logo, id salt, --previous, --campaign), with the same "
                                   "messages.")
    _add_model_data(p)
    p.add_argument("--previous", type=Path, metavar="DIR", help="last month's report folder, checked as `report` would")
    p.add_argument("--strict", action="store_true",
                   help="refuse (exit 2) when --previous does not match its manifest's hashes, instead of a warning")
    p.add_argument("--campaign", type=Path, metavar="PATH", help="campaign outcomes file, checked as `report` would")
    _add_common(p)
    return parser


def _period(value: str) -> str:
    if not (len(value) == 7 and value[4] == "-" and value[:4].isdigit() and value[5:].isdigit()
            and 1 <= int(value[5:]) <= 12):
        raise argparse.ArgumentTypeError(f"{value!r} is not a month like 2026-11")
    return value


def _command_line(argv: Sequence[str]) -> str:
    """The command as recorded in the dossier and manifest: passwords in URLs masked; --debug and
    --verbose change no output, so they are left out (a rerun with them stays byte-identical)."""
    from churnlens.api import redact_url

    return "churnlens " + " ".join(shlex.quote(redact_url(a)) for a in argv if a not in ("--debug", "--verbose"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; with ``--json`` also print :func:`json_summary` as the last stdout line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    code = _main(argv, args)
    if getattr(args, "json", False):
        print(json_summary(args, code), flush=True)
    return code


def json_summary(args: argparse.Namespace, code: int) -> str:
    """One JSON line for schedulers: status, exit code, command, out folder, counts and paths written."""
    import json

    done = getattr(args, "summary", {})
    out = getattr(args, "out", None)
    body = {"status": "ok" if code == EXIT_OK else "error", "exit_code": code, "command": args.command,
            "out": str(out) if out is not None and code == EXIT_OK else None,
            "counts": done.get("counts", {}), "paths": done.get("paths", []),
            "message": getattr(args, "error_message", "") if code != EXIT_OK else "",
            "warnings": done.get("warnings", [])}
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def _remember(args: argparse.Namespace, outcome=None, *, paths=None, **counts) -> None:
    """What --json reports about a finished command (counts and files written)."""
    summary: dict = {"counts": counts, "paths": [str(p) for p in paths or ()], "warnings": []}
    if outcome is not None:
        summary["counts"] = {**counts, "customers": outcome.n_customers, "churners": outcome.n_churners,
                             "segments": outcome.n_segments}
        summary["paths"] = [str(Path(outcome.out) / f) for f in outcome.files]
        summary["warnings"] = [{"code": c, "text": t} for c, t in zip(outcome.warning_codes, outcome.warnings)]
    args.summary = summary


def _main(argv: list[str], args: argparse.Namespace) -> int:
    # Imports happen inside the commands, after parsing, so `--help` stays fast.
    with _guarded(args) as outcome:
        outcome.code = _dispatch(args, argv)
    return outcome.code


class _Outcome:
    code = EXIT_INTERNAL


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an exception so staging folders are removed on the way out."""


def _on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Terminated()


@contextlib.contextmanager
def _guarded(args: argparse.Namespace):
    """Run a command; map every failure to a message and an exit code (see the module docstring)."""
    import signal
    import warnings

    debug = bool(getattr(args, "debug", False))
    _configure_logging(verbose=bool(getattr(args, "verbose", False)) or debug)
    outcome = _Outcome()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with warnings.catch_warnings():
            if not debug:  # numpy/pandas RuntimeWarnings are not messages for the user
                warnings.simplefilter("ignore", RuntimeWarning)
            try:
                yield outcome
            except BaseException as err:  # noqa: BLE001 - the one place errors become exit codes
                said = io.StringIO()  # what the user is told, also for the --json line
                try:
                    with contextlib.redirect_stderr(said):
                        outcome.code = _report_error(err, debug=debug)
                finally:
                    sys.stderr.write(said.getvalue())
                lines = [ln for ln in said.getvalue().splitlines() if ln.startswith("churnlens:")]
                args.error_message = lines[0].removeprefix("churnlens: ") if lines else ""
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _flush_stdout()


def _report_error(err: BaseException, *, debug: bool) -> int:
    """Print ``err`` for the user and return the exit code (re-raising SystemExit)."""
    import traceback

    from churnlens.errors import AdditivityError, UserInputError

    if isinstance(err, SystemExit):
        raise err
    if isinstance(err, BrokenPipeError):  # e.g. `churnlens validate | head`: the reader left, not an error
        _silence_stdout()
        return EXIT_OK
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    if isinstance(err, _Terminated):
        print("churnlens: terminated; the output folder was left as it was.", file=sys.stderr)
        return 143
    if isinstance(err, KeyboardInterrupt):
        print("churnlens: interrupted; the output folder was left as it was.", file=sys.stderr)
        return 130
    if isinstance(err, UserInputError):
        print(f"churnlens: error: {_safe(flag_message(err))}", file=sys.stderr)
        return EXIT_USER
    os_err = _os_error(err)
    if os_err is not None:
        where = f"{_safe(str(os_err.filename))}: " if os_err.filename else ""
        print(f"churnlens: error: {where}{os.strerror(os_err.errno)}. {_OS_ADVICE[os_err.errno]} "
              "The output folder was left as it was.", file=sys.stderr)
        return EXIT_USER
    if isinstance(err, MemoryError):
        print("churnlens: error: out of memory. Lower attribution.chunk_rows in the config, use "
              "attribution.mode 'targeted', or run on a machine with more memory.", file=sys.stderr)
        return EXIT_USER
    if isinstance(err, AdditivityError):
        print(f"churnlens: attribution check failed: {_safe(str(err))}", file=sys.stderr)
    else:
        first = (str(err).strip().splitlines() or [""])[0][:300]
        print(f"churnlens: internal error: {type(err).__name__}: {_safe(first)}", file=sys.stderr)
    if not debug:
        print("churnlens: rerun with --debug for the traceback (and report it with the command line).",
              file=sys.stderr)
    return EXIT_INTERNAL


def _safe(message: str) -> str:
    """Every message the CLI prints goes through the one redaction (credentials in URLs masked,
    at most a few KB): :func:`churnlens.redact.cap`."""
    from churnlens.redact import cap

    return cap(message)


def _os_error(err: BaseException) -> Optional[OSError]:
    """The OSError with advice (full disk, quota, permissions, read-only) that ``err`` is or was
    caused by (a full disk met inside pyarrow or a writer thread arrives wrapped)."""
    seen = 0
    while err is not None and seen < 8:
        if isinstance(err, OSError) and err.errno in _OS_ADVICE:
            return err
        if isinstance(err, OSError) and err.errno is None and "No space left on device" in str(err):
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # pyarrow's ArrowIOError text
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


_OS_ADVICE = {
    errno.ENOSPC: "The disk is full: free some space (the partial output was removed) or write --out to another disk.",
    errno.EDQUOT: "The disk quota is exceeded: free some space or write --out to another disk.",
    errno.EACCES: "Choose input files and an --out folder you can read and write, or ask for access.",
    errno.EPERM: "Choose input files and an --out folder you can read and write, or ask for access.",
    errno.EROFS: "Write --out to a writable disk.",
}


def _configure_logging(*, verbose: bool) -> None:
    import logging

    class _Stderr(logging.Handler):
        """Writes to whatever ``sys.stderr`` is at the time (tests capture it)."""

        def emit(self, record):
            from churnlens.redact import cap

            print(cap(self.format(record)), file=sys.stderr)  # log lines get the one redaction too

    log = logging.getLogger("churnlens")
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    if not any(getattr(h, "_churnlens", False) for h in log.handlers):
        handler = _Stderr()
        handler._churnlens = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("churnlens: %(message)s"))
        log.addHandler(handler)


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """After the reader of a pipe left: point stdout at /dev/null so the interpreter's final
    flush does not print a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def flag_message(err: Exception) -> str:
    """The library's message in CLI terms: the argument it names becomes the flag
    (``data: file x does not exist`` -> ``--data: file x does not exist``)."""
    import re

    message = str(err)
    # options written as keyword arguments (``encoding='gbk'``) become flags (``--encoding gbk``)
    message = re.sub(r"\b(" + "|".join(FLAGS) + r")='([^']*)'", lambda m: f"{FLAGS[m.group(1)]} {m.group(2)}", message)
    argument = getattr(err, "argument", None)
    if argument in FLAGS and message.startswith(argument + ":"):
        message = FLAGS[argument] + message[len(argument):]
    elif argument in FLAGS:
        message += f" (option {FLAGS[argument]})"
    # multi-word argument names are unambiguous: show them as flags wherever they appear
    return re.sub(r"\b(" + "|".join(k for k in FLAGS if "_" in k) + r")\b", lambda m: FLAGS[m.group(1)], message)


def _dispatch(args: argparse.Namespace, argv: Sequence[str]) -> int:
    handler = {"demo": cmd_demo, "report": cmd_report, "explain": cmd_explain, "segment": cmd_segment,
               "evaluate": cmd_evaluate, "validate": cmd_validate, "customer": cmd_customer}[args.command]
    return handler(args, _command_line(argv))


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def _report_summary(outcome) -> str:
    lines = [f"Report written to {outcome.out}: {outcome.n_customers:,} customers, "
             f"{outcome.n_churners:,} churners in {outcome.n_segments} segment(s)."]
    lines += [f"  {name}" for name in outcome.files]
    lines += [f"warning: {w}" for w in outcome.warnings]
    return "\n".join(lines)


def _strict(args: argparse.Namespace) -> dict:
    """``strict=True`` for the API when --strict is given (verification of --previous)."""
    return {"strict": True} if getattr(args, "strict", False) else {}


def cmd_report(args: argparse.Namespace, command: str) -> int:
    from churnlens import api

    api.check_out(args.out, previous=args.previous)  # before any work: nothing of the user's is replaced
    result = api.run(args.model, args.data, args.config, previous=args.previous, campaign=args.campaign,
                     attribute=args.attribute, trust_model=args.trust_model, model_format=args.model_format,
                     engine=args.engine, scheduler=args.scheduler, progress=not args.quiet, query=args.query,
                     encoding=args.encoding, period=args.period, outcomes=args.outcomes, history=args.history,
                     **_strict(args))
    outcome = result.write(args.out, lang=args.lang, formats=args.format, generated_at=args.generated_at,
                           command=command, progress=not args.quiet)
    _remember(args, outcome)
    _say(args, _report_summary(outcome))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, command: str) -> int:
    from churnlens import api

    outcome = api.demo(args.out, customers=args.customers, seed=args.seed, lang=args.lang, formats=args.format,
                       generated_at=args.generated_at, command=command, progress=not args.quiet)
    _remember(args, outcome)
    _say(args, _report_summary(outcome))
    return EXIT_OK


def cmd_explain(args: argparse.Namespace, command: str) -> int:
    from churnlens import api

    n = api.explain_to_file(args.model, args.data, args.config, args.out, trust_model=args.trust_model,
                            model_format=args.model_format, query=args.query, encoding=args.encoding)
    _remember(args, customers=n, paths=[args.out])
    _say(args, f"Attributions of {n:,} customers written to {args.out}.")
    return EXIT_OK


def cmd_segment(args: argparse.Namespace, command: str) -> int:
    from churnlens import api

    outcome = api.segment_file(args.attributions, args.config, args.out)
    _remember(args, churners=outcome.n_churners, segments=outcome.n_segments,
              paths=[Path(args.out) / "segments.csv", Path(args.out) / "segment_signatures.json"])
    _say(args, f"{outcome.n_churners:,} churners in {outcome.n_segments} segment(s) written to {args.out}/segments.csv.")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace, command: str) -> int:
    from churnlens import api
    from churnlens.errors import UserInputError

    data_for = {}
    for item in args.data_for:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserInputError(f"--data-for {item!r}: expected MODEL=PATH, e.g. --data-for challenger.txt=encoded.csv")
        data_for[name] = Path(path)
    verdict = api.evaluate_files(args.model, args.data, args.config, args.out, trust_model=args.trust_model,
                                 model_format=args.model_format, lang=args.lang, generated_at=args.generated_at,
                                 query=args.query, encoding=args.encoding, data_for=data_for, formats=args.format)
    _remember(args, models=len(args.model), paths=sorted(Path(args.out).iterdir()))
    print(verdict, file=sys.stderr if args.json else sys.stdout)  # with --json stdout holds the summary only
    return EXIT_OK


def cmd_customer(args: argparse.Namespace, command: str) -> int:
    from churnlens import api

    path = api.customer(args.customer_id, report=args.report, out=args.out, lang=args.lang)
    args.out = path
    _remember(args, paths=[path])
    _say(args, f"Explanation written to {path}.")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, command: str) -> int:
    from churnlens import api

    print(api.validate(args.model, args.data, args.config, trust_model=args.trust_model,
                       model_format=args.model_format, query=args.query, encoding=args.encoding,
                       previous=args.previous, campaign=args.campaign, **_strict(args)),
          file=sys.stderr if args.json else sys.stdout)
    _remember(args)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
