"""The bad-input catalogue: what a hostile or careless user can hand churnlens.

Every case runs the CLI (in-process where possible) and asserts the exit code, the key words
of the message, that no traceback reached stderr, and that the output folder (a copy of a real
report) and its parent are byte-for-byte as before: nothing the user owns deleted or replaced,
no staging folder left behind. One small model and table are shared by all cases.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnlens import cli

SALT = "a-team-secret-salt"
FEATURES = ["logins", "complaints", "tenure"]


@dataclass
class Env:
    root: Path
    model: Path
    data: Path
    config: Path
    gbm_skops: Path
    report: Path  # a real report folder (html only)
    frame: pd.DataFrame  # the customer table, ids as text

    def data_with(self, tmp: Path, change: Callable[[pd.DataFrame], pd.DataFrame], name: str = "customers.csv") -> Path:
        path = tmp / name
        change(self.frame.copy()).to_csv(path, index=False)
        return path

    def config_with(self, tmp: Path, extra: str, name: str = "config.yaml") -> Path:
        path = tmp / name
        path.write_text(self.config.read_text(encoding="utf-8") + extra, encoding="utf-8")
        return path

    def report_argv(self, out: Path, *, model=None, data=None, config=None, extra=()) -> list:
        return ["report", "--model", model or self.model, "--data", data or self.data, "--config", config or self.config,
                "--out", out, "--format", "html", "--quiet", "--generated-at", "2026-11-30T08:00:00+00:00", *extra]

    def validate_argv(self, *, model=None, data=None, config=None, extra=()) -> list:
        return ["validate", "--model", model or self.model, "--data", data or self.data,
                "--config", config or self.config, *extra]


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "customer_id": [f"{i:07d}" for i in range(1, n + 1)],  # leading zeros: ids are text
        "logins": rng.poisson(5, n).astype(float),
        "complaints": rng.poisson(0.4, n).astype(float),
        "tenure": rng.integers(1, 120, n).astype(float),
        "balance": np.round(rng.lognormal(9, 1, n), 2),
    })
    frame["churned"] = ((frame.logins < 4) | (frame.complaints > 1)).astype(int)
    return frame


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("catalogue")
    frame = _frame()
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "deterministic": True,
                         "num_threads": 1, "seed": 0}, lgb.Dataset(frame[FEATURES], frame.churned), num_boost_round=8)
    booster.save_model(root / "model.txt")
    frame.to_csv(root / "customers.csv", index=False)
    (root / "config.yaml").write_text("id_column: customer_id\nlabel_column: churned\nvalue_column: balance\n"
                                      "churners: {by: label}\nreport: {control_share: 0.0}\n"
                                      "segmentation: {stability_runs: 2}\n", encoding="utf-8")
    from sklearn.ensemble import GradientBoostingClassifier
    from skops.io import dump

    dump(GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(frame[FEATURES], frame.churned),
         root / "gbm.skops")
    e = Env(root, root / "model.txt", root / "customers.csv", root / "config.yaml", root / "gbm.skops",
            root / "report", pd.read_csv(root / "customers.csv", dtype={"customer_id": str}))
    assert cli.main([str(a) for a in e.report_argv(e.report)]) == 0
    return e


# --- harness ------------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, str]:
    """Every entry below ``folder`` (relative path -> SHA-256, or 'dir'/'link'), and the folder's siblings."""
    found = {}
    if folder.exists():
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            found[rel] = "link" if p.is_symlink() else "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    parent = folder.parent
    found["<siblings>"] = ",".join(sorted(p.name for p in parent.iterdir())) if parent.is_dir() else "<no folder>"
    return found


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def assert_clean_failure(code, err, expected_code, words):
    assert code == expected_code, err
    assert "Traceback" not in err, err
    low = err.lower()
    for w in words:
        assert w.lower() in low, f"{w!r} not in message:\n{err}"


# --- the catalogue ------------------------------------------------------------------------------
# Each case: (tmp, env) -> (argv, expected exit code, key words). The case may use ``tmp / "out"``
# (pre-filled with a copy of a real report) as --out; it is checked unchanged afterwards.

CASES: dict[str, Callable] = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _write(tmp: Path, name: str, content: str | bytes) -> Path:
    p = tmp / name
    (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    return p


# files
@case
def model_missing(tmp, e):
    return e.report_argv(tmp / "out", model=tmp / "nope.txt"), 2, ["nope.txt", "does not exist"]


@case
def data_missing(tmp, e):
    return e.report_argv(tmp / "out", data=tmp / "nope.csv"), 2, ["nope.csv", "does not exist"]


@case
def config_missing(tmp, e):
    return e.validate_argv(config=tmp / "nope.yaml"), 2, ["nope.yaml"]


@case
def data_wrong_suffix(tmp, e):
    return e.validate_argv(data=_write(tmp, "customers.xlsx", b"PK\x03\x04")), 2, ["suffix", ".xlsx", "csv"]


@case
def data_empty_file(tmp, e):
    return e.validate_argv(data=_write(tmp, "empty.csv", "")), 2, ["empty.csv", "empty"]


@case
def data_header_only(tmp, e):
    return e.report_argv(tmp / "out", data=_write(tmp, "h.csv", ",".join(e.frame.columns) + "\n")), 2, ["no rows"]


@case
def data_semicolon_csv(tmp, e):
    p = tmp / "semi.csv"
    e.frame.to_csv(p, index=False, sep=";")
    return e.report_argv(tmp / "out", data=p), 2, ["semi.csv", "separated by ';'", "comma"]


@case
def data_tab_separated(tmp, e):
    p = tmp / "tabs.csv"
    e.frame.to_csv(p, index=False, sep="\t")
    return e.validate_argv(data=p), 2, ["separated by tab"]


@case
def data_corrupt_parquet(tmp, e):
    return e.validate_argv(data=_write(tmp, "c.parquet", b"PAR1 this is not parquet")), 2, ["c.parquet", "could not be read"]


@case
def data_is_a_folder(tmp, e):
    (tmp / "dir.csv").mkdir()
    return e.validate_argv(data=tmp / "dir.csv"), 2, ["dir.csv", "holds no .parquet files", "give a csv or parquet file"]


@case
def model_corrupt(tmp, e):
    return e.report_argv(tmp / "out", model=_write(tmp, "m.txt", "tree\nversion=v4\ngarbage")), 2, ["m.txt"]


@case
def model_pickle_untrusted(tmp, e):
    import joblib

    path = tmp / "model.joblib"
    joblib.dump(lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(e.frame[FEATURES], e.frame.churned), path)
    return e.report_argv(tmp / "out", model=path), 2, ["--trust-model"]


@case
def config_not_yaml(tmp, e):
    return e.validate_argv(config=_write(tmp, "c.yaml", "id_column: [unclosed\n")), 2, ["c.yaml"]


@case
def config_unknown_key(tmp, e):
    return e.validate_argv(config=e.config_with(tmp, "colour: blue\n")), 2, ["colour"]


@case
def config_threshold_out_of_range(tmp, e):
    # the catalogue config sets churners already: a second churners: key would be refused as a duplicate
    text = e.config.read_text(encoding="utf-8").replace("churners: {by: label}", "churners: {by: score, threshold: 1.5}")
    return e.validate_argv(config=_write(tmp, "t.yaml", text)), 2, ["threshold"]


@case
def config_duplicate_key(tmp, e):
    return e.validate_argv(config=e.config_with(tmp, "churners: {by: score, threshold: 0.4}\n", "t.yaml")), 2, [
        "'churners' appears twice (lines 4 and 7)"]


# encodings
@case
def data_not_utf8_nor_gbk(tmp, e):
    p = tmp / "latin.csv"
    text = e.data.read_bytes().replace(b"customer_id,", b"customer_id,city\xff,", 1)
    p.write_bytes(text)
    return e.validate_argv(data=p), 2, ["latin.csv", "not utf-8", "0xff", "save it as utf-8"]


@case
def data_utf16(tmp, e):
    p = tmp / "u16.csv"
    p.write_bytes(e.data.read_text().encode("utf-16"))
    return e.report_argv(tmp / "out", data=p), 2, ["u16.csv", "not utf-8", "csv utf-8"]


@case
def do_not_contact_not_utf8(tmp, e):
    _write(tmp, "dnc.csv", b"customer_id\n00000\xff17\n")
    return e.validate_argv(config=_with_report(tmp, e, "do_not_contact: dnc.csv")), 2, ["do-not-contact", "utf-8"]


# columns
@case
def duplicate_column_names(tmp, e):
    p = tmp / "dup.csv"
    text = e.data.read_text().splitlines()
    text[0] = text[0].replace("tenure", "logins")
    p.write_text("\n".join(text) + "\n")
    return e.validate_argv(data=p), 2, ["two columns named 'logins'", "logins.1"]


@case
def duplicate_column_names_report(tmp, e):
    p = tmp / "dup.csv"
    text = e.data.read_text().splitlines()
    text[0] = text[0].replace("balance", "complaints")
    p.write_text("\n".join(text) + "\n")
    return e.report_argv(tmp / "out", data=p), 2, ["two columns named 'complaints'"]


@case
def feature_renamed_did_you_mean(tmp, e):
    return e.validate_argv(data=e.data_with(tmp, lambda f: f.rename(columns={"logins": "Logins"}))), 2, [
        "logins", "did you mean 'Logins'"]


@case
def feature_typo_did_you_mean(tmp, e):
    return e.report_argv(tmp / "out", data=e.data_with(tmp, lambda f: f.rename(columns={"tenure": "tenur"}))), 2, [
        "did you mean 'tenur'"]


@case
def id_column_typo(tmp, e):
    return e.validate_argv(data=e.data_with(tmp, lambda f: f.rename(columns={"customer_id": "customerid"}))), 2, [
        "customer_id", "id_column", "did you mean 'customerid'"]


@case
def value_column_missing(tmp, e):
    return e.validate_argv(data=e.data_with(tmp, lambda f: f.drop(columns="balance"))), 2, ["balance", "value_column"]


@case
def label_column_missing(tmp, e):
    return e.validate_argv(data=e.data_with(tmp, lambda f: f.drop(columns="churned"))), 2, ["churned", "label_column"]


@case
def text_in_numeric_feature(tmp, e):
    def change(f):
        f["logins"] = f["logins"].astype(object)
        f.loc[7, "logins"] = "many"
        return f
    return e.report_argv(tmp / "out", data=e.data_with(tmp, change)), 2, ["logins", "'many'", "expected numbers"]


@case
def duplicated_ids(tmp, e):
    def change(f):
        f.loc[5, "customer_id"] = f.loc[4, "customer_id"]
        return f
    return e.report_argv(tmp / "out", data=e.data_with(tmp, change)), 2, ["duplicated ids", "0000005"]


@case
def empty_ids(tmp, e):
    def change(f):
        f.loc[[3, 9], "customer_id"] = None
        return f
    return e.validate_argv(data=e.data_with(tmp, change)), 2, ["customer_id", "empty", "row 4", "row 10"]


# values
@case
def inf_in_feature(tmp, e):
    def change(f):
        f.loc[11, "tenure"] = np.inf
        return f
    return e.report_argv(tmp / "out", data=e.data_with(tmp, change)), 2, ["tenure", "infinite", "row 12"]


@case
def minus_inf_in_feature(tmp, e):
    def change(f):
        f["logins"] = f["logins"].astype(object)
        f.loc[[0, 2], "logins"] = "-inf"
        return f
    return e.validate_argv(data=e.data_with(tmp, change)), 2, ["logins", "infinite", "rows 1, 3"]


@case
def negative_values(tmp, e):
    def change(f):
        f.loc[[20, 21], "balance"] = -50.0
        return f
    return e.report_argv(tmp / "out", data=e.data_with(tmp, change)), 2, ["balance", "negative", "row 21 (-50.0)"]


@case
def inf_in_value_column(tmp, e):
    def change(f):
        f.loc[1, "balance"] = np.inf
        return f
    return e.validate_argv(data=e.data_with(tmp, change)), 2, ["balance", "infinite", "row 2"]


@case
def currency_text_in_value_column(tmp, e):
    def change(f):
        f["balance"] = f["balance"].map(lambda v: f"${v:,.2f}")
        return f
    return e.validate_argv(data=e.data_with(tmp, change)), 2, ["balance", "numeric money", "currency"]


@case
def label_not_binary(tmp, e):
    def change(f):
        f.loc[12, "churned"] = 50000
        return f
    return e.report_argv(tmp / "out", data=e.data_with(tmp, change)), 2, ["churned", "0/1", "row 13 (50000)"]


@case
def label_text(tmp, e):
    def change(f):
        # yes/no, true/false, y/n are documented spellings (issue 30, tests/test_labels.py);
        # other words are refused, naming the value
        f["churned"] = f["churned"].map({0: "stayed", 1: "left"})
        return f
    return e.validate_argv(data=e.data_with(tmp, change)), 2, ["churned", "'stayed'"]


@case
def nan_into_sklearn_gbm(tmp, e):
    def change(f):
        f.loc[[3, 4], "complaints"] = np.nan
        return f
    return e.report_argv(tmp / "out", model=e.gbm_skops, data=e.data_with(tmp, change)), 2, [
        "missing values", "'complaints'", "impute", "GradientBoostingClassifier", "rows 4, 5"]


@case
def nan_into_sklearn_gbm_validate(tmp, e):
    def change(f):
        f.loc[0, "tenure"] = np.nan
        return f
    return e.validate_argv(model=e.gbm_skops, data=e.data_with(tmp, change)), 2, ["'tenure'", "missing values"]


# config, security, files the config names: validate and report say the same, before scoring
def _salted(tmp, e):
    p = tmp / "salted.yaml"
    p.write_text(e.config.read_text().replace("report: {control_share: 0.0}", "report: {control_share: 0.0, hash_ids: true}"))
    return p


@case
def salt_missing_validate(tmp, e):
    return e.validate_argv(config=_salted(tmp, e)), 2, ["CHURNLENS_ID_SALT"]


@case
def salt_missing_report(tmp, e):
    return e.report_argv(tmp / "out", config=_salted(tmp, e)), 2, ["CHURNLENS_ID_SALT", "report.hash_ids"]


def _with_report(tmp, e, report: str, name="cfg.yaml") -> Path:
    p = tmp / name
    p.write_text(e.config.read_text().replace("report: {control_share: 0.0}", f"report: {{control_share: 0.0, {report}}}"))
    return p


@case
def logo_not_an_image_validate(tmp, e):
    _write(tmp, "secret.txt", "ACCOUNT 12345678 PIN 4321")
    return e.validate_argv(config=_with_report(tmp, e, "logo: secret.txt")), 2, ["report.logo", "not a png"]


@case
def logo_not_an_image_report(tmp, e):
    _write(tmp, "secret.txt", "ACCOUNT 12345678 PIN 4321")
    return e.report_argv(tmp / "out", config=_with_report(tmp, e, "logo: secret.txt")), 2, ["report.logo"]


@case
def logo_missing(tmp, e):
    return e.report_argv(tmp / "out", config=_with_report(tmp, e, "logo: nologo.png")), 2, ["report.logo", "nologo.png"]


@case
def do_not_contact_missing_validate(tmp, e):
    return e.validate_argv(config=_with_report(tmp, e, "do_not_contact: dnc.csv")), 2, ["do-not-contact", "dnc.csv"]


@case
def do_not_contact_missing_report(tmp, e):
    return e.report_argv(tmp / "out", config=_with_report(tmp, e, "do_not_contact: dnc.csv")), 2, ["dnc.csv"]


@case
def do_not_contact_without_id_column(tmp, e):
    _write(tmp, "dnc.csv", "a,b\n1,2\n")
    return e.report_argv(tmp / "out", config=_with_report(tmp, e, "do_not_contact: dnc.csv")), 2, [
        "do-not-contact", "customer_id"]


@case
def do_not_contact_semicolon(tmp, e):
    _write(tmp, "dnc.csv", "customer_id;reason\n0000017;asked\n")
    return e.validate_argv(config=_with_report(tmp, e, "do_not_contact: dnc.csv")), 2, ["dnc.csv", "separated by ';'"]


@case
def previous_missing_validate(tmp, e):
    return e.validate_argv(extra=["--previous", tmp / "october"]), 2, ["--previous", "october"]


@case
def previous_missing_report(tmp, e):
    return e.report_argv(tmp / "out", extra=["--previous", tmp / "october"]), 2, ["--previous", "october"]


@case
def previous_not_a_report(tmp, e):
    (tmp / "october").mkdir()
    _write(tmp / "october", "notes.txt", "hi")
    return e.validate_argv(extra=["--previous", tmp / "october"]), 2, ["segments.csv", "previous report folder"]


@case
def previous_bad_reference_profile(tmp, e):
    prev = tmp / "october"
    shutil.copytree(e.report, prev)
    (prev / "reference_profile.json").write_text("{not json")
    return e.report_argv(tmp / "out", extra=["--previous", prev]), 2, ["reference_profile.json"]


@case
def previous_missing_attributions(tmp, e):
    prev = tmp / "october"
    shutil.copytree(e.report, prev)
    (prev / "attributions.parquet").unlink()
    return e.validate_argv(extra=["--previous", prev]), 2, ["attributions.parquet"]


@case
def previous_same_as_out(tmp, e):
    return e.report_argv(tmp / "out", extra=["--previous", tmp / "out"]), 2, ["same folder", "previous", "--out"]


@case
def campaign_missing_validate(tmp, e):
    return e.validate_argv(extra=["--campaign", tmp / "camp.csv"]), 2, ["--campaign", "camp.csv", "does not exist"]


@case
def campaign_missing_arm_column(tmp, e):
    _write(tmp, "camp.csv", "customer_id,Arm,churned\n0000001,treatment,0\n")
    return e.report_argv(tmp / "out", extra=["--campaign", tmp / "camp.csv"]), 2, ["arm", "did you mean 'Arm'"]


@case
def campaign_bad_arm(tmp, e):
    _write(tmp, "camp.csv", "customer_id,arm,churned\n0000001,treated,0\n0000002,control,1\n")
    return e.validate_argv(extra=["--campaign", tmp / "camp.csv"]), 2, ["arm", "treated"]


@case
def campaign_unknown_ids_validate(tmp, e):
    _write(tmp, "camp.csv", "customer_id,arm,churned\n9999999,treatment,0\n0000002,control,1\n")
    return e.validate_argv(extra=["--campaign", tmp / "camp.csv"]), 2, ["not in the data", "9999999"]


@case
def campaign_ids_stripped_of_zeros(tmp, e):
    # ids compared as text: 1 is not 0000001 (a spreadsheet dropped the zeros)
    _write(tmp, "camp.csv", "customer_id,arm,churned\n1,treatment,0\n2,control,1\n")
    return e.report_argv(tmp / "out", extra=["--campaign", tmp / "camp.csv"]), 2, ["not in the data"]


@case
def format_unknown(tmp, e):
    argv = e.report_argv(tmp / "out")
    argv[argv.index("--format") + 1] = "docx"
    return argv, 2, ["--format", "docx"]


@case
def generated_at_garbage(tmp, e):
    argv = e.report_argv(tmp / "out")
    argv[argv.index("--generated-at") + 1] = "last tuesday"
    return argv, 2, ["--generated-at", "iso 8601"]


@case
def attribute_choice_invalid(tmp, e):
    return e.report_argv(tmp / "out", extra=["--attribute", "some"]), 2, ["--attribute", "invalid choice"]


# playbook
@case
def playbook_unknown_driver(tmp, e):
    _write(tmp, "rules.yaml", "- when: {driver: login, direction: up}\n  action: {en: 'Call', zh: '致电'}\n")
    return e.report_argv(tmp / "out", config=e.config_with(tmp, "playbook_file: rules.yaml\n", "p.yaml")), 2, [
        "login", "logins"]


@case
def playbook_file_missing(tmp, e):
    return e.validate_argv(config=e.config_with(tmp, "playbook_file: rules.yaml\n", "p.yaml")), 2, ["rules.yaml"]


@case
def playbook_missing_translation(tmp, e):
    _write(tmp, "rules.yaml", "- when: {driver: logins}\n  action: {en: 'Call'}\n")
    return e.validate_argv(config=e.config_with(tmp, "playbook_file: rules.yaml\n", "p.yaml")), 2, ["zh"]


# output folders
@case
def out_fake_manifest_with_user_files(tmp, e):
    out = tmp / "mine"
    (out / "sub").mkdir(parents=True)
    _write(out, "manifest.json", '{"note": "my own manifest"}')
    _write(out, "notes.txt", "precious")
    _write(out, "budget_2027.xlsx", b"PK\x03\x04budget")
    _write(out / "sub", "keep.csv", "a\n1\n")
    return e.report_argv(out), 2, ["not a churnlens report folder", "notes.txt", "budget_2027.xlsx", "sub/",
                                   "new or empty"]


@case
def out_report_with_foreign_file(tmp, e):
    _write(tmp / "out", "notes.txt", "precious")
    return e.report_argv(tmp / "out"), 2, ["files churnlens did", "notes.txt", "move them"]


@case
def out_report_with_edited_file(tmp, e):
    with open(tmp / "out" / "retention_list.csv", "a") as fh:
        fh.write("my,own,row\n")
    return e.report_argv(tmp / "out"), 2, ["retention_list.csv (changed since churnlens wrote it)"]


@case
def out_report_with_foreign_subfolder(tmp, e):
    (tmp / "out" / "drafts").mkdir()
    _write(tmp / "out" / "drafts", "a.docx", "x")
    return e.report_argv(tmp / "out"), 2, ["drafts/"]


@case
def out_is_a_file(tmp, e):
    _write(tmp, "out.txt", "mine")
    return e.report_argv(tmp / "out.txt"), 2, ["out.txt", "is a file"]


@case
def segment_into_report_folder(tmp, e):
    return ["segment", "--attributions", e.report / "attributions.parquet", "--config", e.config,
            "--out", tmp / "out"], 2, ["report folder", "never replaces"]


@case
def evaluate_into_report_folder(tmp, e):
    return ["evaluate", "--model", e.model, "--data", e.data, "--config", e.config, "--out", tmp / "out"], 2, [
        "never replaces"]


@case
def input_directly_in_out(tmp, e):
    shutil.copy(e.data, tmp / "out" / "customers.csv")
    return e.report_argv(tmp / "out", data=tmp / "out" / "customers.csv"), 2, ["customers.csv"]


@case
def out_under_a_file(tmp, e):
    _write(tmp, "plain.txt", "mine")
    return e.report_argv(tmp / "plain.txt" / "out"), 2, ["--out"]


@case
def explain_out_not_parquet(tmp, e):
    return ["explain", "--model", e.model, "--data", e.data, "--config", e.config, "--out", tmp / "out"], 2, [
        "--out", ".parquet"]


@case
def segment_into_folder_with_user_files(tmp, e):
    (tmp / "mine").mkdir()
    _write(tmp / "mine", "notes.txt", "precious")
    return ["segment", "--attributions", e.report / "attributions.parquet", "--config", e.config,
            "--out", tmp / "mine"], 2, ["notes.txt", "not a churnlens segmentation folder"]


@case
def previous_is_a_file(tmp, e):
    return e.report_argv(tmp / "out", extra=["--previous", e.data]), 2, ["--previous", "not a folder"]


@case
def campaign_not_utf8(tmp, e):
    _write(tmp, "camp.csv", b"customer_id,arm,churned\n0000001,treatment\xff,0\n")
    return e.validate_argv(extra=["--campaign", tmp / "camp.csv"]), 2, ["campaign file", "camp.csv", "utf-8"]


@case
def model_is_data(tmp, e):
    return e.validate_argv(model=e.data), 2, ["customers.csv"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_catalogue(name, env, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CHURNLENS_ID_SALT", raising=False)
    shutil.copytree(env.report, tmp_path / "out")
    argv, expected, words = CASES[name](tmp_path, env)
    watched = [tmp_path / "out"] + [Path(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a == "--out"]
    before = {str(w): snapshot(w) for w in watched}
    code, _, err = run(argv, capsys)
    print(err)  # shown by pytest -rP: the catalogue of messages
    assert_clean_failure(code, err, expected, words)
    assert {str(w): snapshot(w) for w in watched} == before


def test_catalogue_is_large_enough():
    assert len(CASES) + len(FAULTS) >= 60


# --- checks that must come before scoring -----------------------------------------------------

PRE_SCORING = ["logo_not_an_image_report", "logo_missing", "do_not_contact_missing_report", "salt_missing_report",
               "previous_missing_report", "previous_bad_reference_profile", "campaign_missing_arm_column",
               "do_not_contact_without_id_column"]


@pytest.mark.parametrize("name", PRE_SCORING)
def test_checked_before_scoring(name, env, tmp_path, capsys, monkeypatch):
    """The run fails on these before any customer is scored (scoring is replaced by a tripwire)."""
    from churnlens.run import stages

    def tripwire(*a, **k):
        raise AssertionError("scored before checking the inputs")

    monkeypatch.delenv("CHURNLENS_ID_SALT", raising=False)
    monkeypatch.setattr(stages, "_scan", tripwire)
    shutil.copytree(env.report, tmp_path / "out")
    argv, expected, words = CASES[name](tmp_path, env)
    code, _, err = run(argv, capsys)
    assert_clean_failure(code, err, expected, words)


@pytest.mark.parametrize("name", ["salt_missing", "logo_not_an_image", "do_not_contact_missing", "previous_missing"])
def test_validate_says_what_report_says(name, env, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CHURNLENS_ID_SALT", raising=False)
    _, _, err_v = run(CASES[f"{name}_validate"](tmp_path, env)[0], capsys)
    _, _, err_r = run(CASES[f"{name}_report"](tmp_path, env)[0], capsys)
    assert err_v and err_v == err_r


def test_logo_error_does_not_echo_the_file(env, tmp_path, capsys):
    argv, _, _ = CASES["logo_not_an_image_validate"](tmp_path, env)
    _, _, err = run(argv, capsys)
    assert "12345678" not in err and "ACCOUNT" not in err and "b'" not in err


# --- faults: disk full, read-only, interrupt, internal error, kill, concurrency, pipes --------

FAULTS = ("disk_full", "read_only_parent", "keyboard_interrupt", "internal_error", "internal_error_debug",
          "runtime_warnings", "concurrent_run", "sigkill_then_rerun", "sigterm", "broken_pipe")


def _raise(exc):
    def f(*a, **k):
        raise exc
    return f


def test_disk_full_leaves_report_and_no_staging(env, tmp_path, capsys, monkeypatch):
    from churnlens.actions import playbook

    out = tmp_path / "out"
    shutil.copytree(env.report, out)
    before = snapshot(out)
    monkeypatch.setattr(playbook, "write_retention_list",
                        _raise(OSError(errno.ENOSPC, "No space left on device", str(out) + "/retention_list.csv")))
    code, _, err = run(env.report_argv(out), capsys)
    assert_clean_failure(code, err, 2, ["no space left on device", "disk is full", "retention_list.csv"])
    assert snapshot(out) == before


def test_read_only_parent_is_a_message(env, tmp_path, capsys, monkeypatch):
    import tempfile

    from churnlens.io import atomic

    monkeypatch.setattr(atomic.tempfile, "mkdtemp",
                        _raise(PermissionError(errno.EACCES, "Permission denied", str(tmp_path))))
    code, _, err = run(env.report_argv(tmp_path / "new"), capsys)
    monkeypatch.setattr(atomic.tempfile, "mkdtemp", tempfile.mkdtemp)
    assert_clean_failure(code, err, 2, ["permission denied", str(tmp_path), "--out"])
    assert not (tmp_path / "new").exists()


def test_keyboard_interrupt_removes_staging(env, tmp_path, capsys, monkeypatch):
    from churnlens.run import write

    out = tmp_path / "out"
    shutil.copytree(env.report, out)
    before = snapshot(out)
    monkeypatch.setattr(write, "run_facts", _raise(KeyboardInterrupt()))
    code, _, err = run(env.report_argv(out), capsys)
    assert_clean_failure(code, err, 130, ["interrupted", "left as it was"])
    assert snapshot(out) == before


@pytest.mark.parametrize("debug", [False, True])
def test_internal_error_is_one_line_unless_debug(env, tmp_path, capsys, monkeypatch, debug):
    from churnlens.run import write

    monkeypatch.setattr(write, "run_facts", _raise(ValueError("something impossible\nsecond line")))
    code, _, err = run((["--debug"] if debug else []) + env.report_argv(tmp_path / "new"), capsys)
    assert code == 1
    if debug:
        assert "Traceback" in err and "something impossible" in err
    else:
        assert "Traceback" not in err and "second line" not in err
        assert err.splitlines()[0] == "churnlens: internal error: ValueError: something impossible"
        assert "rerun with --debug" in err
    assert not (tmp_path / "new").exists() and [p.name for p in tmp_path.iterdir()] == []


def test_debug_flag_after_the_command_too(env, capsys):
    code, _, err = run(env.validate_argv(data=Path("/nonexistent.csv"), extra=["--debug"]), capsys)
    assert code == 2 and "Traceback" in err


def test_runtime_warnings_do_not_leak(env, tmp_path, capsys, monkeypatch):
    from churnlens.run import tasks

    real = tasks._load

    def noisy(*a, **k):
        np.log(np.array([-1.0, 0.0]))  # RuntimeWarning: invalid value / divide by zero
        return real(*a, **k)

    monkeypatch.setattr(tasks, "_load", noisy)
    code, out, err = run(env.validate_argv(), capsys)
    assert code == 0 and "RuntimeWarning" not in err and out.startswith("OK:")


def test_concurrent_run_into_the_same_out_is_refused(env, tmp_path, capsys):
    from churnlens.io.atomic import staged_folder

    out = tmp_path / "out"
    shutil.copytree(env.report, out)
    before = snapshot(out)
    with staged_folder(out) as other:  # another run, alive, holds its staging lock
        code, _, err = run(env.report_argv(out), capsys)
        assert other.exists()
        assert_clean_failure(code, err, 2, ["another churnlens run", "wait for it"])
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other.name, "out"])  # its own staging removed
        assert {k: v for k, v in snapshot(out).items() if k != "<siblings>"} == {
            k: v for k, v in before.items() if k != "<siblings>"}
        (other / "manifest.json").write_text('{"schema": "churnlens.report/1", "outputs": {}}')
    assert json.loads((out / "manifest.json").read_text())["outputs"] == {}  # the other run finished and published


def _cli(*args, **kw):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("CHURNLENS_ID_SALT", None)
    return subprocess.Popen([sys.executable, "-m", "churnlens.cli", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for_staging(parent: Path, name: str, proc, timeout: float = 60) -> Path:
    t0 = time.time()
    while time.time() - t0 < timeout:
        found = [p for p in parent.glob(f".{name}.partial-*") if (p / "attributions.parquet").exists()]
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"run ended before staging: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("no staging folder appeared")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_leaves_report_and_staging_is_swept(env, tmp_path, capsys, sig):
    out = tmp_path / "out"
    shutil.copytree(env.report, out)
    before = {k: v for k, v in snapshot(out).items() if k != "<siblings>"}
    proc = _cli(*env.report_argv(out)[:-2], "--format", "html,pdf")
    staging = _wait_for_staging(tmp_path, "out", proc)
    assert (staging.stat().st_mode & 0o777) == 0o700  # private: it holds customer data
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    assert {k: v for k, v in snapshot(out).items() if k != "<siblings>"} == before
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and "terminated" in err
        assert not staging.exists()  # removed on the way out
    else:
        assert staging.exists()  # SIGKILL gives no chance to clean up ...
        code, _, err = run(env.report_argv(out), capsys)
        assert code == 0, err
        assert not staging.exists()  # ... the next run into the same --out sweeps it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_broken_pipe_is_a_clean_exit(env):
    proc = subprocess.run(f"{sys.executable} -m churnlens.cli validate --model {env.model} --data {env.data} "
                          f"--config {env.config} | head -c 1", shell=True, capture_output=True, text=True)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_broken_pipe_in_process(env, capsys, monkeypatch):
    def broken(*a, **k):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr("builtins.print", broken)
    try:
        code = cli.main([str(a) for a in env.validate_argv()])
    finally:
        monkeypatch.undo()
    assert code == 0 and "Traceback" not in capsys.readouterr().err


# --- what must go right ---------------------------------------------------------------------------

def test_do_not_contact_ids_with_leading_zeros_match(env, tmp_path, capsys):
    churners = env.frame.loc[env.frame.churned == 1, "customer_id"]
    blocked = churners.head(7)
    (tmp_path / "dnc.csv").write_text("customer_id\n" + "\n".join(blocked) + "\n")
    out = tmp_path / "r"
    code, _, err = run(env.report_argv(out, config=_with_report(tmp_path, env, "do_not_contact: dnc.csv")), capsys)
    assert code == 0, err
    listed = pd.read_csv(out / "retention_list.csv", dtype=str)["customer_id"]
    assert len(listed) == len(churners) - 7 and not set(listed) & set(blocked)


def test_formula_ids_are_quoted_in_csv(env, tmp_path, capsys):
    def change(f):
        f.loc[f.churned == 1, "customer_id"] = ['=HYPERLINK("http://x","y")' if i == 0 else f"+{i}" if i == 1 else
                                              f"@c{i}" if i == 2 else f"-{i}" if i == 3 else f"C{i:04d}"
                                              for i in range(int(f.churned.sum()))]
        return f
    data = env.data_with(tmp_path, change)
    out = tmp_path / "r"
    code, _, err = run(env.report_argv(out, data=data), capsys)
    assert code == 0, err
    for name in ("retention_list.csv", "segments.csv"):
        ids = pd.read_csv(out / name, dtype=str)["customer_id"]
        assert not ids.str.match(r"^[=+\-@]").any(), name
        assert "'=HYPERLINK(\"http://x\",\"y\")" in set(ids) and "'+1" in set(ids) and "'-3" in set(ids)
    scores = pd.read_csv(out / "retention_list.csv")["score"]
    assert pd.api.types.is_numeric_dtype(scores)  # numbers are not quoted
    # next month reads the quoted ids back as the ids they are
    from churnlens.segmentation import load_previous

    assert '=HYPERLINK("http://x","y")' in set(load_previous(out).customer_ids)


def test_zero_values_are_allowed(env, tmp_path, capsys):
    def change(f):
        f.loc[:10, "balance"] = 0.0
        f.loc[11:20, "balance"] = np.nan  # empty = 0
        return f
    code, out, err = run(env.validate_argv(data=env.data_with(tmp_path, change)), capsys)
    assert code == 0, err


def test_symlinked_out_is_followed(env, tmp_path, capsys):
    real = tmp_path / "reports" / "2026-11"
    real.parent.mkdir()
    shutil.copytree(env.report, real)
    link = tmp_path / "current"
    link.symlink_to(real, target_is_directory=True)
    code, _, err = run(env.report_argv(link), capsys)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "reports"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["2026-11"]


def test_inputs_inside_out_are_kept(env, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(env.report, out)
    manifest = json.loads((out / "manifest.json").read_text())
    # the demo layout: the report's inputs live in out/inputs, recorded by the manifest
    (out / "inputs").mkdir()
    for name in ("model.txt", "customers.csv", "config.yaml"):
        shutil.copy(env.root / name, out / "inputs" / name)
    manifest["kept_inputs"] = ["inputs/model.txt", "inputs/customers.csv", "inputs/config.yaml"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    inputs = out / "inputs"
    argv = env.report_argv(out, model=inputs / "model.txt", data=inputs / "customers.csv", config=inputs / "config.yaml")
    for _ in range(2):  # and again: the new manifest records them too
        code, _, err = run(argv, capsys)
        assert code == 0, err
        for name in ("model.txt", "customers.csv", "config.yaml"):
            assert (inputs / name).read_bytes() == (env.root / name).read_bytes()
        m = json.loads((out / "manifest.json").read_text())
        assert next(i for i in m["inputs"] if i["role"] == "data")["path"] == str(inputs / "customers.csv")


def test_segment_writes_its_own_folder_and_replaces_only_that(env, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("churners: {by: score, threshold: 0.3}\n")
    argv = ["segment", "--attributions", env.report / "attributions.parquet", "--config", cfg,
            "--out", tmp_path / "seg", "--quiet"]
    for _ in range(2):
        code, _, err = run(argv, capsys)
        assert code == 0, err
    assert json.loads((tmp_path / "seg" / "manifest.json").read_text())["schema"] == "churnlens.segments/1"
    argv[-2] = env.report  # never replaces a report
    before = snapshot(env.report)
    code, _, err = run(argv, capsys)
    assert code == 2 and snapshot(env.report) == before


def test_report_manifest_has_schema_and_no_timings(env):
    m = json.loads((env.report / "manifest.json").read_text())
    assert m["schema"] == "churnlens.report/1" and "timings_seconds" not in m
    assert set(m["outputs"]) == {p.relative_to(env.report).as_posix() for p in env.report.rglob("*")
                                 if p.is_file() and p.name != "manifest.json"}


def test_report_folder_from_before_the_schema_marker_is_replaced_only_when_clean(env, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(env.report, out)
    m = json.loads((out / "manifest.json").read_text())
    del m["schema"]
    (out / "manifest.json").write_text(json.dumps(m))
    (out / "notes.txt").write_text("mine")
    code, _, err = run(env.report_argv(out), capsys)
    assert code == 2 and "notes.txt" in err
    (out / "notes.txt").unlink()
    code, _, err = run(env.report_argv(out), capsys)
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["schema"] == "churnlens.report/1"


def test_gbk_and_bom_csv_are_read(env, tmp_path, capsys):
    """Chinese bank exports (GBK / GB18030) and Excel's 'CSV UTF-8' (byte-order mark) just work."""
    frame = env.frame.assign(city=["北京" if i % 2 else "上海" for i in range(len(env.frame))])
    for encoding in ("gbk", "gb18030", "utf-8-sig"):
        p = tmp_path / f"{encoding}.csv"
        frame.to_csv(p, index=False, encoding=encoding)
        code, out, err = run(env.validate_argv(data=p), capsys)
        assert code == 0, (encoding, err)
        assert f"({len(frame):,} rows)" in out
    from churnlens.io.tables import read_table

    read = read_table(tmp_path / "gbk.csv", id_column="customer_id")
    assert read["city"].tolist() == frame["city"].tolist() and read["customer_id"].iloc[0] == "0000001"


def test_formula_ids_are_text_in_xlsx(env, tmp_path, capsys):
    from openpyxl import load_workbook

    def change(f):
        f.loc[f.churned == 1, "customer_id"] = ['=HYPERLINK("http://x","y")' if i == 0 else f"C{i:04d}"
                                              for i in range(int(f.churned.sum()))]
        return f
    out = tmp_path / "r"
    code, _, err = run(env.report_argv(out, data=env.data_with(tmp_path, change)), capsys)
    assert code == 0, err
    wb = load_workbook(out / "retention_list.xlsx")  # a summary sheet and one sheet per segment
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]  # no formula anywhere
    assert any(c.value == '=HYPERLINK("http://x","y")' and c.data_type == "s" for c in cells)


def test_report_into_a_demo_folder_keeps_its_inputs(tmp_path, capsys):
    """`churnlens demo` keeps its inputs in DIR/inputs; a report into DIR from them keeps them."""
    out = tmp_path / "demo"
    code, _, err = run(["demo", "--out", out, "--customers", "500", "--format", "html", "--quiet",
                        "--generated-at", "2026-11-30T08:00:00+00:00"], capsys)
    assert code == 0, err
    inputs = {p.name: p.read_bytes() for p in (out / "inputs").iterdir()}
    argv = ["report", "--model", out / "inputs" / "model.txt", "--data", out / "inputs" / "customers.csv",
            "--config", out / "inputs" / "config.yaml", "--out", out, "--format", "html", "--quiet"]
    for _ in range(2):
        code, _, err = run(argv, capsys)
        assert code == 0, err
        assert {p.name: p.read_bytes() for p in (out / "inputs").iterdir()} == inputs
        m = json.loads((out / "manifest.json").read_text())
        assert all(Path(i["path"]).is_file() for i in m["inputs"]), m["inputs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no staging or old folder left


def test_staging_folder_is_private_and_removed_on_failure(tmp_path):
    from churnlens.io.atomic import staged_folder

    with pytest.raises(RuntimeError):
        with staged_folder(tmp_path / "out") as staging:
            assert (staging.stat().st_mode & 0o777) == 0o700
            (staging / "partial.csv").write_text("customer data")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_sweep_leaves_folders_churnlens_did_not_make(env, tmp_path, capsys):
    """Only staging folders carrying churnlens's (unlocked) marker are swept: a look-alike name is not enough."""
    out = tmp_path / "out"
    shutil.copytree(env.report, out)
    lookalike = tmp_path / ".out.partial-mine"
    lookalike.mkdir()
    (lookalike / "keep.txt").write_text("mine")
    code, _, err = run(env.report_argv(out), capsys)
    assert code == 0, err
    assert (lookalike / "keep.txt").read_text() == "mine"
