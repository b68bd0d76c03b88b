"""Models from an MLflow registry / run (local file-based tracking store, no server)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")

from churnlens import attribution, cli  # noqa: E402
from churnlens.errors import ModelError  # noqa: E402
from tests.stack_inputs import book, lgb_model, write_inputs  # noqa: E402

FEATURES = ["logins", "complaints", "aum"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tracking store with a LightGBM booster (v1, Staging), an XGBoost classifier and two
    scikit-learn forests (skops and cloudpickle)."""
    import xgboost as xgb
    from sklearn.ensemble import RandomForestClassifier

    root = tmp_path_factory.mktemp("mlflow") / "mlruns"  # created by MLflow with its default experiment
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mp.setenv("MLFLOW_TRACKING_URI", f"file:{root}")
    mlflow.set_tracking_uri(f"file:{root}")
    frame = book(200)
    X, y = frame[FEATURES], frame.churned
    models = {"lgb": lgb_model(frame),
              "xgb": xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y),
              "rf": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)}
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run() as run:
            mlflow.lightgbm.log_model(models["lgb"], name="model", registered_model_name="churn")
            runs["lgb"] = run.info.run_id
        mlflow.MlflowClient().transition_model_version_stage("churn", "1", "Staging")
        with mlflow.start_run() as run:
            mlflow.xgboost.log_model(models["xgb"], name="model", registered_model_name="churn_xgb")
            runs["xgb"] = run.info.run_id
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(models["rf"], name="model", serialization_format="skops",
                                     skops_trusted_types=["sklearn.tree._tree.Tree"])
            mlflow.sklearn.log_model(models["rf"], name="pickled", serialization_format="cloudpickle")
            runs["rf"] = run.info.run_id
    yield {"root": root, "frame": frame, "models": models, "runs": runs}
    mp.undo()


def test_registered_lightgbm_by_stage_and_version(store):
    frame, booster = store["frame"], store["models"]["lgb"]
    for uri in ("models:/churn/Staging", "models:/churn/1"):
        model = attribution.load_model(uri)
        reg = model.info.registry
        assert (reg.name, reg.version, reg.run_id, reg.flavor) == ("churn", "1", store["runs"]["lgb"], "lightgbm")
        assert reg.registry_uri.startswith("file:") and model.info.path == uri
        assert model.info.family == "lightgbm" and len(model.info.sha256) == 64
        np.testing.assert_allclose(model.predict_raw(frame[FEATURES]), booster.predict(frame[FEATURES], raw_score=True))


def test_registered_xgboost_and_run_uri(store):
    frame, clf = store["frame"], store["models"]["xgb"]
    model = attribution.load_model("models:/churn_xgb/1")
    assert model.info.family == "xgboost" and model.info.registry.version == "1"
    np.testing.assert_allclose(model.predict_proba(frame[FEATURES]), clf.predict_proba(frame[FEATURES])[:, 1],
                               rtol=1e-6)
    rf = attribution.load_model(f"runs:/{store['runs']['rf']}/model")
    assert rf.info.family == "random_forest" and rf.info.registry.run_id == store["runs"]["rf"]
    assert rf.info.registry.version is None
    np.testing.assert_allclose(rf.predict_proba(frame[FEATURES]),
                               store["models"]["rf"].predict_proba(frame[FEATURES])[:, 1])


def test_pickled_model_needs_trust(store):
    uri = f"runs:/{store['runs']['rf']}/pickled"
    with pytest.raises(ModelError, match="cloudpickle file.*trust_model"):
        attribution.load_model(uri)
    assert attribution.load_model(uri, trust_model=True).info.family == "random_forest"


def test_unknown_model_names_registry(store):
    with pytest.raises(ModelError, match="model: MLflow model models:/nope/1 could not be resolved in registry file:.*MLFLOW_TRACKING_URI"):
        attribution.load_model("models:/nope/1")


def test_report_manifest_records_registry(store, tmp_path, capsys):
    d = write_inputs(tmp_path)
    out = tmp_path / "rep"
    code = cli.main(["report", "--model", "models:/churn/Staging", "--data", str(d / "customers.csv"),
                     "--config", str(d / "config.yaml"), "--out", str(out), "--format", "html", "--quiet",
                     "--generated-at", "2026-11-30T08:00:00+00:00"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    reg = manifest["model"]["registry"]
    assert (reg["name"], reg["version"], reg["run_id"]) == ("churn", "1", store["runs"]["lgb"])
    assert reg["registry_uri"] == f"file:{store['root']}"
    assert manifest["inputs"][0]["path"] == "models:/churn/Staging"


def test_stage_uri_for_an_alias_points_to_the_alias(store):
    mlflow.MlflowClient().set_registered_model_alias("churn_xgb", "Production", "1")
    with pytest.raises(ModelError, match=r"has no version in stage 'Production'.*alias 'Production' \(version 1\): "
                                         r"write models:/churn_xgb@Production"):
        attribution.load_model("models:/churn_xgb/Production")
    assert attribution.load_model("models:/churn_xgb@Production").info.registry.version == "1"


def test_a_server_that_never_answers_ends_within_the_timeout(store, monkeypatch):
    """A socket that accepts connections and never replies: the wait ends at CHURNLENS_REGISTRY_TIMEOUT."""
    import socket
    import time

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    old = mlflow.get_tracking_uri()
    monkeypatch.setenv("CHURNLENS_REGISTRY_TIMEOUT", "2")
    mlflow.set_tracking_uri(url)
    try:
        start = time.monotonic()
        with pytest.raises(ModelError) as err:
            attribution.load_model("models:/churn/Production")
        elapsed = time.monotonic() - start
    finally:
        mlflow.set_tracking_uri(old)
        sock.close()
    assert elapsed < 6, elapsed
    msg = str(err.value)
    assert f"the MLflow server {url} did not answer within 2 s" in msg and "CHURNLENS_REGISTRY_TIMEOUT" in msg
    assert err.value.argument == "model"


def test_unreachable_server_is_a_model_error_naming_it(store, tmp_path, capsys):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: connection refused
    old = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"http://127.0.0.1:{port}")
    d = write_inputs(tmp_path)
    try:
        code = cli.main(["validate", "--model", "models:/churn/Production", "--data", str(d / "customers.csv"),
                         "--config", str(d / "config.yaml")])
    finally:
        mlflow.set_tracking_uri(old)
    err = capsys.readouterr().err
    assert code == 2 and f"127.0.0.1:{port}" in err and "Traceback" not in err
