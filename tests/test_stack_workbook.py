"""retention_list.xlsx: business headers per language, formats, one sheet per segment, safe text, reproducible."""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pandas as pd
import pytest

openpyxl = pytest.importorskip("openpyxl")

from churnlens.actions.playbook import retention_list, select_targets  # noqa: E402
from churnlens.config import PlaybookRule  # noqa: E402
from churnlens.reports.workbook import display_width, sheet_names, write_retention_workbook  # noqa: E402

EVIL = ("=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)")
WHEN = "2026-11-30T08:00:00+00:00"


def _retention():
    ids = np.array(["0000017", "0000002", *EVIL, "0000300", "0004000"], dtype=object)
    n = len(ids)
    score = np.linspace(0.9, 0.55, n)
    value = np.arange(1, n + 1) * 1000.5
    reasons = np.array([["近期登录减少", "complaints: 2", ""]] * n, dtype=object)
    rules = (PlaybookRule.model_validate({"when": {"driver": "logins"}, "channel": "relationship_manager",
                                          "action": {"en": "Call the customer", "zh": "客户经理致电"}}),)
    segment = np.array(["S1", "S1", "S10", "S10", "S10", "S1", "", "S10"], dtype=object)
    t = select_targets(ids, np.ones(n, bool), control_share=0.25, seed=0)
    return retention_list(ids, t, segment=segment, score=score, value=value, reasons=reasons,
                          rule_index=np.zeros(n, dtype=np.int64), rules=rules)


def test_sheets_headers_formats_and_text_ids(tmp_path):
    rl = _retention()
    path = write_retention_workbook(tmp_path / "retention_list.xlsx", rl, lang="zh", unit="CNY", period="2026-11",
                                    generated_at=WHEN)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "S1", "S10", "未分群"]  # segments in report order, no segment last
    s1 = wb["S1"]
    headers = [c.value for c in s1[1]]
    assert headers[:6] == ["客户编号", "客群", "客群名称", "流失概率", "资产价值", "潜在流失资产"]
    assert headers[6:9] == ["原因 1", "原因 2", "原因 3"] and headers[9:12] == ["驱动因素 1", "驱动因素 2", "驱动因素 3"]
    assert headers[-5:] == ["挽留行动", "渠道", "单次联系成本", "预期挽回价值", "对照组"]
    n_cols = len(rl.frame.columns)
    last = openpyxl.utils.get_column_letter(n_cols)
    assert s1.freeze_panes == "A2" and s1.auto_filter.ref == f"A1:{last}{1 + (rl.frame.segment == 'S1').sum()}"
    row = {h: c for h, c in zip(headers, s1[2])}
    assert row["客户编号"].data_type == "s" and row["客户编号"].number_format == "@"
    assert row["流失概率"].number_format == "0.0%" and isinstance(row["流失概率"].value, float)
    assert row["资产价值"].number_format == '#,##0.00" CNY"' 
    first = rl.frame[rl.frame.segment == "S1"].iloc[0]
    assert row["资产价值"].value == pytest.approx(first["value"]) and row["客户编号"].value == first["customer_id"]
    assert row["渠道"].value == "客户经理" and row["对照组"].value in ("是", "否")
    all_ids = [r[0].value for ws in wb.worksheets[1:] for r in ws.iter_rows(min_row=2)]
    assert sorted(all_ids) == sorted(rl.frame.customer_id)  # zero-padded ids intact
    # CJK text counts double in column widths
    assert s1.column_dimensions["G"].width >= display_width("近期登录减少") == 12
    summary = wb["汇总"]
    assert summary["A1"].value == "挽留名单" and summary["B2"].value == "2026-11"
    assert summary["B3"].number_format == "yyyy-mm-dd hh:mm" and summary["B3"].value.year == 2026
    totals = [r for r in summary.iter_rows(values_only=True) if r[0] == "合计"][0]
    assert totals[1] == len(rl.frame) and totals[3] == rl.control_count
    assert totals[2] == len(rl.frame) - rl.control_count
    assert totals[5] == pytest.approx(rl.frame["value"].sum())


def test_formula_injection_impossible(tmp_path):
    path = write_retention_workbook(tmp_path / "l.xlsx", _retention(), lang="en", generated_at=WHEN)
    wb = openpyxl.load_workbook(path)
    cells = [c for ws in wb.worksheets for r in ws.iter_rows() for c in r if c.value is not None]
    assert not [c for c in cells if c.data_type == "f"]
    evil = [c for c in cells if c.value in EVIL]
    assert len(evil) == len(EVIL) and all(c.data_type == "s" for c in evil)
    with zipfile.ZipFile(path) as z:
        assert not any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert wb["S1"]["A1"].value == "Customer ID" and wb["Summary"]["A1"].value == "Retention list"


def test_byte_identical_reruns_with_fixed_time(tmp_path):
    rl = _retention()
    a = write_retention_workbook(tmp_path / "a.xlsx", rl, lang="en", generated_at=WHEN)
    time.sleep(2.1)  # zip entry times have a 2-second resolution
    b = write_retention_workbook(tmp_path / "b.xlsx", rl, lang="en", generated_at=WHEN)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # never the time of writing
        core = z.read("docProps/core.xml").decode()
    assert "2026-11-30T08:00:00Z" in core and core.count("2026-11-30T08:00:00Z") == 2  # created + modified
    c = write_retention_workbook(tmp_path / "c.xlsx", rl, lang="en", generated_at="2026-12-31T08:00:00+00:00")
    assert c.read_bytes() != a.read_bytes()


def test_sheet_names_are_valid_and_unique():
    names = sheet_names(["S1", "a/b:c", "x" * 40, "x" * 40, "Summary"], "Summary")
    assert names[:2] == ["S1", "a_b_c"] and all(len(n) <= 31 for n in names)
    assert len({n.lower() for n in names} | {"summary"}) == 6


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dates_readable_and_print_setup(tmp_path, lang):
    """Issue 30: the summary's date cell is wide enough for its text (Excel shows ### otherwise);
    every sheet prints landscape, one page wide, with its header row repeated."""
    path = write_retention_workbook(tmp_path / "r.xlsx", _retention(), lang=lang, unit="CNY", period="2026-11",
                                    generated_at=WHEN)
    wb = openpyxl.load_workbook(path)
    summary = wb.worksheets[0]
    cell = summary["B3"]
    assert cell.is_date and cell.number_format == "yyyy-mm-dd hh:mm"
    shown = cell.value.strftime("%Y-%m-%d %H:%M")
    assert shown == "2026-11-30 08:00"
    # Excel's column width is in characters of the default font: the text plus a margin must fit
    assert summary.column_dimensions["B"].width >= len(shown) + 1
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize in (9, "9")
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        # fitToWidth absent means 1 (the OOXML default); fitToHeight 0: as many pages down as needed
        assert int(ws.page_setup.fitToWidth or 1) == 1 and int(ws.page_setup.fitToHeight) == 0
    from churnlens.reports.words import workbook_text

    header_row = next(r for r in range(1, 10) if summary.cell(r, 1).value == workbook_text("segment", lang))
    assert summary.print_title_rows.replace("$", "") == f"{header_row}:{header_row}"
    for ws in wb.worksheets[1:]:
        assert ws.print_title_rows.replace("$", "") == "1:1"
