"""The public Python API: churnlens.run -> Run; Run.write equals `churnlens report`; in-memory
models and DataFrames; config as path, dict or Config; typed errors naming the argument;
the runnable example of docs/api.md."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import churnlens
from churnlens import cli
from churnlens.attribution.results import Attributions
from churnlens.demo.book import write_demo_inputs
from churnlens.errors import ConfigError, ModelError, UserInputError
from churnlens.run.pipeline import ReportRequest, run_report

N = 1200
AT = "2026-11-30T08:00:00+00:00"
DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("api") / "inputs", n_customers=N, seed=3)


@pytest.fixture(scope="module")
def result(inputs):
    return churnlens.run(inputs.model, inputs.customers, inputs.config)


def _normalised(folder: Path) -> dict[str, bytes]:
    """Every file's bytes (run timings are no longer in any file; the dossier and the xlsx are
    still compared loosely here: byte-identity is tests/test_reproducible.py's job)."""
    out = {}
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):  # tables/*.csv included
        data = p.read_bytes()
        if p.name == "dossier.html":
            data = re.sub(rb'(<td class="r">)[0-9.]+(</td>)', rb"\1T\2", data)
        elif p.name == "manifest.json":
            m = json.loads(data)
            assert "timings_seconds" not in m
            for name in ("dossier.html", "retention_list.xlsx"):
                m["outputs"].pop(name)
            data = json.dumps(m, sort_keys=True).encode()
        elif p.suffix == ".xlsx":
            data = pd.read_excel(p, dtype=str).to_csv(index=False).encode()
        out[p.relative_to(folder).as_posix()] = data
    return out


def _cli_report(inputs, out: Path, lang: str) -> str:
    argv = ["report", "--model", str(inputs.model), "--data", str(inputs.customers), "--config", str(inputs.config),
            "--out", str(out), "--format", "html", "--lang", lang, "--generated-at", AT, "--quiet"]
    assert cli.main(argv) == 0
    return cli._command_line(argv)


def test_write_equals_the_cli_report_byte_for_byte(inputs, result, tmp_path):
    command = _cli_report(inputs, tmp_path / "cli", "en")
    outcome = result.write(tmp_path / "api", lang="en", formats=("html",), generated_at=AT, command=command)
    assert outcome.n_customers == N and outcome.n_churners == result.n_churners
    a, b = _normalised(tmp_path / "api"), _normalised(tmp_path / "cli")
    assert sorted(a) == sorted(b) and "report.html" in a
    for name in a:
        assert a[name] == b[name], name


def test_write_in_another_language_equals_a_run_computed_in_it(inputs, result, tmp_path):
    """One computed run written in Chinese equals a run asked for Chinese from the start."""
    req = ReportRequest(model=inputs.model, data=inputs.customers, config=inputs.config, out=tmp_path / "direct",
                        lang="zh", formats=("html",), generated_at=AT, command="c")
    run_report(req)
    result.write(tmp_path / "api", lang="zh", formats="html", generated_at=AT, command="c")
    a, b = _normalised(tmp_path / "api"), _normalised(tmp_path / "direct")
    for name in a:
        assert a[name] == b[name], name
    assert "流失" in (tmp_path / "api" / "report.html").read_text(encoding="utf-8")


def test_frames_equal_the_files_written(result, tmp_path):
    result.write(tmp_path / "r", formats=("html",), generated_at=AT)
    seg = pd.read_csv(tmp_path / "r" / "segments.csv", dtype={"customer_id": str})
    as_file = pd.read_csv(io.StringIO(result.segments_frame().to_csv(index=False)), dtype={"customer_id": str})
    pd.testing.assert_frame_equal(as_file, seg, check_dtype=False)
    rl = pd.read_csv(tmp_path / "r" / "retention_list.csv", dtype={"customer_id": str})
    assert list(result.retention_frame().columns) == list(rl.columns)
    assert result.retention_frame()["customer_id"].tolist() == rl["customer_id"].tolist()
    attr = pd.read_parquet(tmp_path / "r" / "attributions.parquet")
    pd.testing.assert_frame_equal(result.attributions_frame(), attr)
    written = sorted(p.stem for p in (tmp_path / "r" / "tables").glob("*.csv"))
    for name in ("drivers", "segment_profiles", "retention_plan", "in_sample", "control_plan"):  # one function each
        assert name in written
        assert result.table(name).to_csv(index=False) == (tmp_path / "r" / "tables" / f"{name}.csv").read_text(
            encoding="utf-8")
    pd.testing.assert_frame_equal(result.drivers_frame(), result.table("drivers"))
    with pytest.raises(KeyError, match="'budget_channels': no such table in this run; tables: claims, control_plan, drivers"):
        result.table("budget_channels")


def test_outcome_lists_exactly_the_files_of_the_folder(result, tmp_path):
    outcome = result.write(tmp_path / "r", formats=("html",), generated_at=AT)
    on_disk = sorted(p.relative_to(tmp_path / "r").as_posix() for p in (tmp_path / "r").rglob("*") if p.is_file())
    assert list(outcome.files) == on_disk
    assert "tables/drivers.csv" in outcome.files and not any(".churnlens" in f for f in outcome.files)


def test_written_from_python_the_dossier_carries_the_python_recipe(inputs, result, tmp_path):
    result.write(tmp_path / "r", formats=("html",), generated_at=AT)
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text(encoding="utf-8"))
    recipe = manifest["command"]
    assert recipe.startswith("import churnlens; churnlens.run(") and str(inputs.model.absolute()) in recipe
    assert f".write({str((tmp_path / 'r').absolute())!r}, lang='en')" in recipe
    assert "churnlens.run(" in (tmp_path / "r" / "dossier.html").read_text(encoding="utf-8")


def test_arguments_are_validated_at_the_boundary(inputs, tmp_path):
    with pytest.raises(UserInputError, match=r"^attribute: 'bogus' is not allowed; use 'targeted', 'all' or None") as e:
        churnlens.run(inputs.model, inputs.customers, inputs.config, attribute="bogus")
    assert e.value.argument == "attribute"
    with pytest.raises(UserInputError, match=r"^period: '2026-13' is not a month; use YYYY-MM") as e:
        churnlens.run(inputs.model, inputs.customers, inputs.config, period="2026-13")
    assert e.value.argument == "period"
    with pytest.raises(UserInputError, match=r"^engine: 'spark' is not allowed"):
        churnlens.run(inputs.model, inputs.customers, inputs.config, engine="spark")


def test_results_by_name_type_and_cohorts(result):
    from churnlens.segmentation.results import Segmentation, Segments

    assert result.get(Segmentation) is result.segmentation
    assert result.get(Segments).items == result.segments == result["segments"]
    with pytest.raises(KeyError, match="'segmnts': no such result; results by name: "):
        result["segmnts"]
    with pytest.raises(AttributeError, match="Run has no 'state'"):
        result.state  # noqa: B018  -- the old all-fields state is no longer public
    cohorts = result.cohorts()
    keys = {s.key for s in result.segments if s.size}
    assert keys <= set(cohorts.cohorts) and sum(c.values.shape[0] for c in cohorts.cohorts.values()) \
        == result.n_churners


def test_segment_in_python_equals_the_segment_command(inputs, result, tmp_path):
    result.write(tmp_path / "r", formats=("html",), generated_at=AT)
    code = cli.main(["segment", "--attributions", str(tmp_path / "r" / "attributions.parquet"), "--config",
                     str(inputs.config), "--out", str(tmp_path / "seg"), "--quiet"])
    assert code == 0
    done = churnlens.segment(tmp_path / "r" / "attributions.parquet", inputs.config)
    pd.testing.assert_frame_equal(done.frame().reset_index(drop=True),
                                  pd.read_csv(tmp_path / "seg" / "segments.csv", dtype={"customer_id": str}),
                                  check_dtype=False)
    assert done.churners.count == int(done.churners.mask.sum()) > 0
    with pytest.raises(UserInputError, match=r"^attributions: expected a path to attributions.parquet"):
        churnlens.segment(42)


def test_explain_takes_a_frame_without_ids_and_gives_numeric_data(inputs, result):
    frame = pd.read_csv(inputs.customers, dtype={"customer_id": str}).head(40)
    X = frame.drop(columns=["customer_id"]).set_index(pd.Index([f"row{i}" for i in range(40)]))
    e = churnlens.explain(inputs.model, X, inputs.config)
    assert list(e.instance_names) == [f"row{i}" for i in range(40)]
    assert e.data.dtype == np.float64  # categorical levels as codes: shap's cohorts and plots work on it
    text = [i for i, f in enumerate(e.feature_names) if not pd.api.types.is_numeric_dtype(X[f])]
    assert text and e.display_data[0, text[0]] == X.iloc[0][e.feature_names[text[0]]]
    assert len(e.cohorts(2).cohorts) == 2


def test_explanation_is_shap_like_and_adds_up(result):
    e = result.attributions
    m, f = e.values.shape
    assert m == len(result.rows) and f == len(e.feature_names) == result.model.info.n_features
    assert list(e.instance_names) == list(result.get(Attributions).customer_ids)
    raw = e.base_values + e.values.astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(raw, result.get(Attributions).raw_score, atol=1e-4)  # float32 storage
    one = e[0]
    assert one.values.shape == (f,)
    col = e[:, "age"]
    np.testing.assert_array_equal(col.values, e.values[:, e.feature_names.index("age")])
    assert e[:10].values.shape == (10, f)


def test_frames_and_objects_agree(result):
    drivers = result.drivers_frame()  # the rows of tables/drivers.csv: one per driver, then one per risk zone
    ranked = drivers.drop_duplicates("rank")
    assert ranked["feature"].tolist() == [d.feature for d in result.drivers.drivers]
    assert ranked["share"].sum() == pytest.approx(1.0)
    assert result["drivers"] is result.drivers is result.get(type(result.drivers))
    assert "drivers" in result.names() and result.trend is None
    prof = result.profiles_frame()
    assert set(prof["segment"]) == {s.key for s in result.segments}
    assert sum(s.size for s in result.segments) == result.n_churners
    assert len(result.scores) == N and result.scores.index.name == "customer_id"
    assert result.quality is not None and result.monitoring is None and result.campaign is None


def test_repr_html_summarises_counts_segments_and_additivity(result):
    html = result._repr_html_()
    assert f"{N:,} customers" in html and f"{result.n_churners:,} churners" in html
    for s in result.segments:
        assert f"<td>{s.key}</td>" in html
    assert f"{result.get(Attributions).additivity_max_error:.1e}" in html
    assert "segment(s)" in repr(result)


def test_in_memory_model_data_and_config_give_the_same_run(inputs, result):
    import lightgbm as lgb

    frame = pd.read_csv(inputs.customers, dtype={"customer_id": str})
    config = yaml.safe_load(inputs.config.read_text(encoding="utf-8"))
    again = churnlens.run(lgb.Booster(model_file=str(inputs.model)), frame, config)
    np.testing.assert_array_equal(again.attributions.values, result.attributions.values)
    pd.testing.assert_frame_equal(again.segments_frame(), result.segments_frame())
    typed = churnlens.run(inputs.model, frame, churnlens.Config.model_validate(config))
    pd.testing.assert_frame_equal(typed.retention_frame(), result.retention_frame())


def test_fitted_xgboost_classifier_in_memory(inputs):
    xgb = pytest.importorskip("xgboost")
    frame = pd.read_csv(inputs.customers, dtype={"customer_id": str})
    numeric = [c for c in frame.columns if c not in ("customer_id", "churned")
               and pd.api.types.is_numeric_dtype(frame[c])]
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(frame[numeric], frame["churned"])
    e = churnlens.explain(model, frame.head(50), {"label_column": "churned"})
    raw = model.predict(frame.head(50)[numeric], output_margin=True)
    np.testing.assert_allclose(e.base_values + e.values.astype(np.float64).sum(axis=1), raw, atol=1e-4)


def test_errors_name_the_argument(inputs, tmp_path):
    with pytest.raises(UserInputError, match=r"^model: file .*nope\.txt does not exist") as err:
        churnlens.run(tmp_path / "nope.txt", inputs.customers)
    assert err.value.argument == "model"
    with pytest.raises(UserInputError, match=r"^data: expected a path .* or a pandas DataFrame; found a list"):
        churnlens.run(inputs.model, [1, 2, 3])
    with pytest.raises(ConfigError, match=r"^config: expected a path to a YAML file, a dict"):
        churnlens.run(inputs.model, inputs.customers, 42)
    with pytest.raises(ModelError, match="cannot explain exactly"):
        churnlens.load_model(object())
    with pytest.raises(UserInputError, match=r"^data: the DataFrame has no rows"):
        churnlens.run(inputs.model, pd.DataFrame({"customer_id": []}))
    with pytest.raises(UserInputError, match=r"^formats: unknown format\(s\) docx"):
        churnlens.run(inputs.model, inputs.customers, inputs.config).write(tmp_path / "o", formats=("docx",))
    assert not (tmp_path / "o").exists()


def test_cli_names_the_flag_for_the_argument(inputs, tmp_path, capsys):
    code = cli.main(["report", "--model", str(tmp_path / "nope.txt"), "--data", str(inputs.customers),
                     "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert capsys.readouterr().err.startswith("churnlens: error: --model: file ")
    code = cli.main(["report", "--model", str(inputs.model), "--data", str(inputs.customers), "--out",
                     str(tmp_path / "o"), "--generated-at", "yesterday", "--format", "html", "--quiet"])
    assert code == 2
    assert "--generated-at: 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err


def test_public_names():
    for name in ("run", "Run", "load_model", "explain", "Config", "load_config", "__version__"):
        assert hasattr(churnlens, name), name
    assert callable(churnlens.run)
    import inspect

    params = inspect.signature(churnlens.run).parameters
    assert [p for p, v in params.items() if v.kind is not v.KEYWORD_ONLY] == ["model", "data", "config"]


def test_docs_api_example_runs(inputs, tmp_path, monkeypatch):
    """Every ```python block of docs/api.md, executed in order on a small demo book."""
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "api.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    shutil.copytree(inputs.model.parent, tmp_path / "demo" / "inputs")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOCS / "api.md"), "exec"), namespace)
    assert (tmp_path / "report-en" / "report.html").is_file()
