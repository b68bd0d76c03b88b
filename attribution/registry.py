"""Models from an MLflow registry or run: ``models:/NAME/STAGE``, ``models:/NAME/VERSION``,
``models:/NAME@ALIAS`` and ``runs:/RUN_ID/PATH``.

MLflow's own client resolves the URI (tracking/registry URIs from ``MLFLOW_TRACKING_URI`` /
``MLFLOW_REGISTRY_URI`` or ``mlflow.set_tracking_uri``) and downloads the model's artifacts
(``mlflow.artifacts``). A model saved in a data format (LightGBM text, XGBoost JSON/UBJ, skops)
is then read by churnlens's own loader, with the same safety checks as a file; a pickled model
(``serialization_format: pickle/cloudpickle``) is loaded by ``mlflow.<flavor>.load_model`` and
only with ``trust_model=True``. Needs the optional extra ``churnlens[mlflow]``.

Waits are bounded: resolving the URI with the tracking server / registry must finish within
``timeout`` seconds (argument, else the environment variable ``CHURNLENS_REGISTRY_TIMEOUT``,
default 30), each HTTP request within the same time with at most two retries (MLflow's own
``MLFLOW_HTTP_REQUEST_TIMEOUT`` / ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` win when set); past it the
load stops with a :class:`~churnlens.errors.ModelError` (exit 2) naming the server.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from churnlens.attribution.model import _sha256, from_estimator, load_model_file as load_model
from churnlens.attribution.results import RegistryInfo
from churnlens.errors import ModelError
from churnlens.io.sources import redact_url
from churnlens.io.sources import redact_text

URI_SCHEMES = ("models:/", "runs:/")
REGISTRY_TIMEOUT = 30.0  # seconds; CHURNLENS_REGISTRY_TIMEOUT overrides
TIMEOUT_VARIABLE = "CHURNLENS_REGISTRY_TIMEOUT"
FLAVORS = ("lightgbm", "xgboost", "sklearn")  # order of preference when a model has several
_DATA_KEY = {"lightgbm": "data", "xgboost": "data", "sklearn": "pickled_model"}


def is_model_uri(model: Any) -> bool:
    """True for an MLflow model URI rather than a file path."""
    return isinstance(model, (str, os.PathLike)) and str(model).startswith(URI_SCHEMES)


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ModelError("model: the model is an MLflow model URI but MLflow is not installed: "
                         "pip install 'churnlens[mlflow]'.", argument="model") from None
    return mlflow


def _server(mlflow: Any) -> str:

    registry, tracking = str(mlflow.get_registry_uri()), str(mlflow.get_tracking_uri())
    return redact_url(registry) if registry == tracking else f"{redact_url(registry)} (tracking {redact_url(tracking)})"


def _alias_hint(uri: str) -> str:
    """`` If the registry uses aliases, write models:/NAME@STAGE.`` for a models:/NAME/STAGE URI."""
    body = uri.split(":/", 1)[1].strip("/") if uri.startswith("models:/") else ""
    name, _, rest = body.partition("/")
    if rest and not rest.isdigit() and "@" not in name:
        return f" If the registry uses aliases instead of stages, write models:/{name}@{rest}."
    return ""


def _not_found(uri: str, mlflow: Any, err: Exception) -> ModelError:

    first = redact_text(str(err).strip().splitlines()[0]) if str(err).strip() else type(err).__name__
    return ModelError(f"model: MLflow model {uri} could not be resolved in registry {_server(mlflow)}: {first}. "
                      "Check the name, stage, alias or version (models:/NAME/STAGE, models:/NAME@ALIAS, "
                      f"models:/NAME/VERSION, runs:/RUN_ID/PATH) and set MLFLOW_TRACKING_URI.{_alias_hint(uri)}",
                      argument="model")


def registry_timeout(timeout: Optional[float] = None) -> float:
    """Seconds to wait for the registry: ``timeout``, else ``CHURNLENS_REGISTRY_TIMEOUT``, else 30."""
    if timeout is None:
        raw = os.environ.get(TIMEOUT_VARIABLE, "").strip()
        try:
            timeout = float(raw) if raw else REGISTRY_TIMEOUT
        except ValueError:
            raise ModelError(f"{TIMEOUT_VARIABLE}: {raw!r} is not a number of seconds.", argument="model") from None
    if not timeout > 0:
        raise ModelError(f"registry timeout must be a positive number of seconds; found {timeout}.", argument="model")
    return float(timeout)


@contextlib.contextmanager
def _bounded_requests(timeout: float):
    """MLflow's HTTP requests limited to ``timeout`` seconds and two retries, unless the user set them."""
    wanted = {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, int(round(timeout)))),
              "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
    set_here = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(set_here)
    try:
        yield
    finally:
        for k in set_here:
            os.environ.pop(k, None)


def _within(timeout: float, fn, uri: str, mlflow: Any, what: str):
    """``fn()`` run in a daemon thread, given at most ``timeout`` seconds (a hung server cannot hold
    the run: the thread is left behind and the process may exit)."""
    import threading

    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target, name="churnlens-mlflow", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ModelError(
            f"model: the MLflow server {_server(mlflow)} did not answer within {timeout:g} s while {what} {uri}. "
            "Check MLFLOW_TRACKING_URI (and MLFLOW_REGISTRY_URI), that the server is running and reachable from "
            f"this machine (proxy, firewall, VPN), and its credentials; a slow server may be given longer with "
            f"{TIMEOUT_VARIABLE} (seconds).", argument="model")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _version_facts(uri: str, mlflow: Any) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(model name, version, run id) that ``uri`` points at, from MLflow's client."""
    client = mlflow.MlflowClient()
    body = uri.split(":/", 1)[1].strip("/")
    if uri.startswith("runs:/"):
        return None, None, body.split("/", 1)[0]
    name, _, rest = body.partition("/")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # registry stages are deprecated in MLflow 2.9+, still in use at banks
        if "@" in name:
            name, alias = name.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        elif rest.isdigit():
            mv = client.get_model_version(name, rest)
        elif rest:
            found = client.get_latest_versions(name, stages=[rest])
            if not found:
                try:
                    aliased = client.get_model_version_by_alias(name, rest)
                except Exception:  # noqa: BLE001 - no such alias either
                    aliased = None
                hint = (f" The registry has an alias {rest!r} (version {aliased.version}): write "
                        f"models:/{name}@{rest}." if aliased is not None else _alias_hint(uri))
                raise ModelError(f"model: MLflow model {uri}: registered model {name!r} has no version in stage "
                                 f"{rest!r} (registry {_server(mlflow)}).{hint}", argument="model")
            mv = found[0]
        else:  # models:/<logged model id> (MLflow 3)
            logged = client.get_logged_model(name)
            return logged.name, None, logged.source_run_id
    return mv.name, str(mv.version), mv.run_id


@contextlib.contextmanager
def _quiet_downloads():
    """MLflow draws a download progress bar on stderr; churnlens's own progress is enough."""
    key, old = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ[key] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _flavor(meta: dict, uri: str) -> str:
    flavors = meta.get("flavors") or {}
    for name in FLAVORS:
        if name in flavors:
            return name
    raise ModelError(f"MLflow model {uri} has flavours {', '.join(sorted(flavors)) or '(none)'}; churnlens loads "
                     f"models logged with mlflow.lightgbm, mlflow.xgboost or mlflow.sklearn.", argument="model")


def load_registry_model(uri: str, *, trust_model: bool = False, timeout: Optional[float] = None) -> Any:
    """Load the model behind an MLflow URI as a :class:`~churnlens.attribution.model.LoadedModel`.

    ``timeout`` (seconds; default ``CHURNLENS_REGISTRY_TIMEOUT`` or 30) bounds the wait for the
    tracking server / registry to resolve the URI (see the module docstring).

    Raises
    ------
    ModelError
        MLflow missing, URI not found, server not answering in time, unsupported flavour, or a
        pickled model without ``trust_model``.
    """
    import yaml


    mlflow = _mlflow()
    uri = str(uri)
    wait = registry_timeout(timeout)
    try:
        with _bounded_requests(wait):
            name, version, run_id = _within(wait, lambda: _version_facts(uri, mlflow), uri, mlflow, "resolving")
    except ModelError:
        raise
    except Exception as err:  # MlflowException and its REST / store variants
        raise _not_found(uri, mlflow, err) from None
    with tempfile.TemporaryDirectory(prefix="churnlens-mlflow-") as tmp:
        try:
            with _quiet_downloads(), _bounded_requests(wait):
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
        except Exception as err:
            raise _not_found(uri, mlflow, err) from None
        meta = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8")) if (local / "MLmodel").is_file() else {}
        flavor = _flavor(meta or {}, uri)
        conf = meta["flavors"][flavor]
        data = local / str(conf.get(_DATA_KEY[flavor], ""))
        serialization = str(conf.get("serialization_format", "")).lower()
        if serialization in ("pickle", "cloudpickle"):
            if not trust_model:
                raise ModelError(
                    f"model: MLflow model {uri} is stored as a {serialization} file ({data.name}); loading it runs code "
                    "from the file, so churnlens refuses it by default. Log the model with "
                    "serialization_format='skops' (mlflow.sklearn) or as a native booster, or set trust_model "
                    "if the registry is trusted.", argument="model")
            obj = getattr(__import__(f"mlflow.{flavor}", fromlist=["load_model"]), "load_model")(uri)
            model = from_estimator(obj, path=uri, fmt="pickle", sha256=_sha256(data) if data.is_file() else "")
        else:  # a data format (booster text/JSON/UBJ, skops): detected from the file's content
            fmt = "xgboost" if flavor == "xgboost" and not data.suffix.lower() in (".json", ".ubj") else None
            model = load_model(data, model_format=fmt, trust_model=trust_model)
    registry = RegistryInfo(uri=uri, registry_uri=str(mlflow.get_registry_uri()),
                            tracking_uri=str(mlflow.get_tracking_uri()), flavor=flavor, name=name,
                            version=version, run_id=run_id or meta.get("run_id"))
    info = replace(model.info, path=uri, format=f"mlflow_{flavor}:{model.info.format}", registry=registry)
    return replace(model, info=info)
