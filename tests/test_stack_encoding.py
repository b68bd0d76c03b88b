"""CSV encodings: GBK exports with Chinese categories and zero-padded ids; advice when decoding fails."""

from __future__ import annotations

import pandas as pd
import pytest

from churnlens import cli
from churnlens.config import parse_config
from churnlens.errors import ConfigError, InputFileError
from churnlens.io.sources import table_source
from churnlens.io.tables import read_table
from tests.stack_inputs import REGIONS, book, write_inputs


def test_gbk_file_reads_with_encoding_gbk(tmp_path):
    frame = book(50)
    path = tmp_path / "gbk.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    raw = path.read_bytes()
    assert "华东".encode("gbk") in raw and "华东".encode("utf-8") not in raw  # really GBK bytes
    got = read_table(table_source(path, encoding="gbk"), id_column="customer_id")
    assert got["customer_id"].tolist() == frame["customer_id"].tolist()  # leading zeros kept
    assert set(got["region"]) <= set(REGIONS) and got["region"].tolist() == frame["region"].tolist()


def test_gbk_file_without_encoding_is_detected_and_read(tmp_path):
    """GBK exports are normal at Chinese banks: without an encoding they are detected and read
    exactly as with encoding='gbk'."""
    path = tmp_path / "gbk.csv"
    frame = book(50)
    frame.to_csv(path, index=False, encoding="gbk")
    got = read_table(table_source(path), id_column="customer_id")
    pd.testing.assert_frame_equal(got, read_table(table_source(path, encoding="gbk"), id_column="customer_id"))
    assert got["region"].tolist() == frame["region"].tolist()


def test_undecodable_file_gets_advice(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("customer_id,region\n0001,Gen\xe8ve\xff\n".encode("latin-1"))
    with pytest.raises(InputFileError) as err:
        read_table(table_source(path), id_column="customer_id")
    msg = str(err.value)
    assert f"{path} is not UTF-8 text" in msg and "nor GBK/GB18030" in msg and "encoding='latin-1'" in msg
    got = read_table(table_source(path, encoding="latin-1"), id_column="customer_id")
    assert got["region"].tolist() == ["Genève\xff"] and got["customer_id"].tolist() == ["0001"]


def test_bom_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "excel.csv"
    book(20).to_csv(path, index=False, encoding="utf-8-sig")
    assert read_table(table_source(path), id_column="customer_id").columns[0] == "customer_id"


def test_unknown_encoding_is_refused():
    with pytest.raises(ConfigError, match="encoding: 'big5' is not supported; use one of utf-8"):
        table_source("x.csv", encoding="big5")
    with pytest.raises(ConfigError, match="data.encoding: 'big5' is not supported"):
        parse_config({"data": {"encoding": "big5"}})


def test_cli_validate_gbk_and_excel_bom_output(tmp_path, capsys):
    d = write_inputs(tmp_path)
    gbk = tmp_path / "gbk.csv"
    pd.read_csv(d / "customers.csv", dtype={"customer_id": str}).to_csv(gbk, index=False, encoding="gbk")
    args = ["validate", "--model", str(d / "model.txt"), "--data", str(gbk), "--config", str(d / "config.yaml")]
    assert cli.main(args) == 0  # detected
    assert cli.main(args + ["--encoding", "gbk"]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(gbk.read_bytes() + b"\xff\xff\n")
    assert cli.main(["validate", "--model", str(d / "model.txt"), "--data", str(bad), "--config",
                     str(d / "config.yaml")]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and "--encoding latin-1" in err  # the CLI names its flag
    assert cli.main(args + ["--encoding", "big5"]) == 2
    assert "--encoding: 'big5' is not supported" in capsys.readouterr().err
    assert cli.main(args + ["--encoding", "gbk"]) == 0
    assert "OK:" in capsys.readouterr().out
    # report with the encoding in the config and excel_bom: CSV outputs start with the UTF-8 BOM
    cfg = tmp_path / "bom.yaml"
    cfg.write_text((d / "config.yaml").read_text() + "data: {encoding: gbk}\nreport: {excel_bom: true}\n")
    out = tmp_path / "rep"
    code = cli.main(["report", "--model", str(d / "model.txt"), "--data", str(gbk), "--config", str(cfg),
                     "--out", str(out), "--format", "html", "--quiet", "--generated-at", "2026-11-30T08:00:00"])
    assert code == 0, capsys.readouterr().err
    assert (out / "retention_list.csv").read_bytes().startswith(b"\xef\xbb\xbfcustomer_id")
    listed = pd.read_csv(out / "retention_list.csv", dtype={"customer_id": str}, encoding="utf-8-sig")
    assert listed["customer_id"].str.fullmatch(r"\d{7}").all()
