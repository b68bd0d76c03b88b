"""Ids compared as a bank means them, and every read bounded (issue 32)."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from churnlens.actions.playbook import read_id_list, select_targets
from churnlens.campaign.effect import read_campaign
from churnlens.errors import ConfigError, DataError, InputFileError
from churnlens.evaluation.backtest import read_outcomes
from churnlens.io.files import check_regular_file, read_bytes
from churnlens.io.ids import match_ids, near_duplicates, normalise_id, normalise_ids
from churnlens.io.tables import read_table
from tests.strategies import base_id, damaged, examples


@settings(max_examples=examples(60))
@given(ident=base_id, data=st.data())
def test_every_spelling_of_an_id_is_the_same_id(ident, data):
    spelling = data.draw(damaged(ident))
    assert normalise_id(spelling) == normalise_id(ident) == unicodedata.normalize("NFC", ident)


@settings(max_examples=examples(30))
@given(ident=base_id, data=st.data())
def test_do_not_contact_blocks_every_spelling(tmp_path_factory, ident, data):
    """A do-not-contact id with spaces around it, or in NFD where the table has NFC (and the
    reverse), blocks the customer: read from a file and compared by select_targets."""
    listed = data.draw(damaged(ident))
    in_table = data.draw(damaged(ident))
    tmp = tmp_path_factory.mktemp("dnc")
    (tmp / "dnc.csv").write_text("customer_id\n" + '"' + listed.replace('"', '""') + '"\n', encoding="utf-8")
    dnc = read_id_list(tmp / "dnc.csv")
    ids = np.array(["Z0", in_table, "Z1"], dtype=object)
    t = select_targets(ids, np.array([True, True, True]), do_not_contact=dnc, control_share=0.0, seed=0)
    assert t.excluded.tolist() == [False, True, False]
    assert match_ids(ids, dnc).unmatched == 0


def test_unmatched_do_not_contact_ids_are_counted():
    m = match_ids(np.array(["C001", "C002"], dtype=object), {" C001", "C999", "C998 "})
    assert (m.listed, m.matched, m.unmatched, m.examples) == (3, 1, 2, ("C998", "C999"))


@settings(max_examples=examples(25))
@given(ident=base_id, data=st.data())
def test_two_spellings_of_one_id_in_the_table_are_refused_naming_both(tmp_path_factory, ident, data):
    other = data.draw(damaged(ident).filter(lambda s: s != ident))
    tmp = tmp_path_factory.mktemp("dup")
    frame = pd.DataFrame({"customer_id": ["A1", ident, "A2", other], "x": [1, 2, 3, 4]})
    frame.to_parquet(tmp / "t.parquet")  # Parquet keeps every spelling exactly
    with pytest.raises(DataError) as e:
        read_table(tmp / "t.parquet", id_column="customer_id")
    assert repr(ident) in str(e.value) and repr(other) in str(e.value)


def test_near_duplicates_none_for_clean_ids():
    assert near_duplicates(np.array(["a", "b", " c"], dtype=object)) == []
    assert normalise_ids(np.array(["x ", None, np.nan], dtype=object))[0] == "x"


def test_campaign_outcomes_and_previous_ids_are_normalised(tmp_path):
    nfd = unicodedata.normalize("NFD", "José1")
    pd.DataFrame({"customer_id": [f" {nfd}", "B2 "], "arm": ["treatment", "control"], "churned": [0, 1]}).to_parquet(
        tmp_path / "c.parquet")
    assert read_campaign(tmp_path / "c.parquet")["customer_id"].tolist() == ["José1", "B2"]
    pd.DataFrame({"customer_id": [f"{nfd}\t", "B2"], "churned": [1, 0]}).to_parquet(tmp_path / "o.parquet")
    assert read_outcomes(tmp_path / "o.parquet")["customer_id"].tolist() == ["José1", "B2"]


# --- every read bounded --------------------------------------------------------------------------

KINDS = ["config", "playbook", "logo", "do_not_contact", "campaign", "outcomes"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", KINDS)
def test_fifo_folder_device_refused_by_kind_without_blocking(tmp_path, kind):
    os.mkfifo(tmp_path / "pipe")
    for path, words in ((tmp_path / "pipe", "named pipe (FIFO)"), (tmp_path, "a folder"),
                        (Path("/dev/zero"), "a device"), (tmp_path / "none", "does not exist")):
        with pytest.raises(InputFileError) as e:
            read_bytes(path, kind)
        assert words in str(e.value)
        if words != "does not exist":
            assert "does not exist" not in str(e.value)


@pytest.mark.parametrize("kind", KINDS)
def test_sparse_file_over_the_kind_limit_is_refused_before_reading(tmp_path, kind, monkeypatch):
    from churnlens.io.files import LIMITS

    p = tmp_path / "big"
    with open(p, "wb") as fh:
        fh.truncate(LIMITS[kind] * (1 << 20) + 1)  # sparse: costs no disk
    import builtins

    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(f) or real_open(f, *a, **k))
    with pytest.raises(InputFileError) as e:
        check_regular_file(p, kind)
    assert f"CHURNLENS_MAX_{kind.upper()}_MB" in str(e.value) and not opened
    monkeypatch.setenv(f"CHURNLENS_MAX_{kind.upper()}_MB", str(LIMITS[kind] + 1))
    check_regular_file(p, kind)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_do_not_contact_campaign_outcomes_fifo_never_hang(tmp_path):
    os.mkfifo(tmp_path / "p.csv")
    with pytest.raises(InputFileError, match="named pipe"):
        read_id_list(tmp_path / "p.csv")
    with pytest.raises(InputFileError, match="named pipe"):
        read_campaign(tmp_path / "p.csv")
    with pytest.raises(InputFileError, match="named pipe"):
        read_outcomes(tmp_path / "p.csv")


def test_sparse_2gb_do_not_contact_refused(tmp_path):
    p = tmp_path / "dnc.txt"
    with open(p, "wb") as fh:
        fh.truncate(2 << 30)
    with pytest.raises(InputFileError) as e:
        read_id_list(p)
    assert "2,048.0 MB" in str(e.value) and "at most 256.0 MB" in str(e.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_logo_fifo_refused_by_preflight(tmp_path):
    from churnlens.config import Config
    from churnlens.run.preflight import check_logo

    os.mkfifo(tmp_path / "logo.png")
    with pytest.raises(ConfigError) as e:
        check_logo(Config().with_updates(report__logo=str(tmp_path / "logo.png")))
    assert "named pipe" in str(e.value) and e.value.key == "report.logo"


def _whole_file_ids(path: Path) -> frozenset:
    """The ids as the former whole-file reader made them (read_text, splitlines): the reference."""
    return frozenset(normalise_id(t) for t in path.read_text(encoding="utf-8").splitlines() if normalise_id(t))


def test_txt_do_not_contact_is_streamed_with_bounded_memory(tmp_path, monkeypatch):
    """A ~12 MB .txt list (60,000 long lines, few distinct ids) is read block by block: the peak
    memory of the read stays far below the file's size, and the ids equal those of reading it whole."""
    import tracemalloc

    import churnlens.io.files as files

    p = tmp_path / "dnc.txt"
    ids = [f"C{i:07d}" + "-" * 180 for i in range(50)]
    with open(p, "w", encoding="utf-8", newline="") as fh:
        for k in range(24):  # mixed line ends, spaces around ids, blank lines
            fh.write("".join(f" {i}\r\n" if (j + k) % 3 == 0 else f"{i}\n" if (j + k) % 3 == 1 else f"{i}\r"
                             for j, i in enumerate(ids * 50)) + "\n\n")
    size = p.stat().st_size
    assert size > 10 << 20
    expected = _whole_file_ids(p)
    assert expected == frozenset(ids)
    # nothing may read the whole file
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("read whole"))
    monkeypatch.setattr(Path, "read_bytes", lambda *a, **k: pytest.fail("read whole"))
    blocks = []
    real_fdopen = os.fdopen

    class Counting:
        def __init__(self, fh):
            self.fh = fh

        def read(self, n=-1):
            assert 0 < n <= files.TEXT_BLOCK  # bounded reads, never read(-1)
            data = self.fh.read(n)
            blocks.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(files.os, "fdopen", lambda fd, *a, **k: Counting(real_fdopen(fd, *a, **k)))
    tracemalloc.start()
    got = read_id_list(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got == expected
    assert sum(blocks) == size and len(blocks) >= size // files.TEXT_BLOCK  # read block by block
    assert peak < size / 4, peak  # the whole text (and its list of lines) would be several times the file


@pytest.mark.parametrize("text", ["a\r\nb", "a\rb\r", "a\nb\n\n", " a \u2028b\x85c", "\ufeffa\nb", "", "x" * 3000])
def test_txt_do_not_contact_lines_split_as_before(tmp_path, monkeypatch, text):
    """Line ends cut by the block boundary (a "\\r" at the end of one block, its "\\n" at the
    start of the next) and Unicode line boundaries give the same ids as the whole-file reader."""
    import churnlens.io.files as files

    monkeypatch.setattr(files, "TEXT_BLOCK", 3)  # tiny blocks: every boundary falls inside a line end
    p = tmp_path / "dnc.txt"
    p.write_bytes(text.encode("utf-8"))
    assert read_id_list(p) == _whole_file_ids(p) - {"\ufeffa"} | ({"a"} if text.startswith("\ufeff") else set())
