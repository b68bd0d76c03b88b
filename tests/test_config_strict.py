"""Config strictness (issue 32): duplicate keys, unknown keys with "did you mean", non-UTF-8
files, one validation for a value from the file, the CLI or Python, nested playbook files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from churnlens import cli
from churnlens.actions.playbook import config_rules, load_playbook
from churnlens.config import Config, ReportConfig, SegmentationConfig, fields_at, is_period, load_config, override
from churnlens.errors import ConfigError, PlaybookError
from tests.strategies import examples, months, typo

RULE = "- when: {driver: logins, direction: down}\n  action: {en: Call, zh: 致电}\n"


def _write(tmp: Path, name: str, text: str | bytes) -> Path:
    p = tmp / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def test_duplicate_top_level_key_names_the_key_and_both_lines(tmp_path):
    p = _write(tmp_path, "c.yaml", "churners:\n  by: score\nseed: 1\nchurners:\n  by: label\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "'churners' appears twice (lines 1 and 4)" in str(e.value)


@settings(max_examples=examples(15))
@given(depth=st.integers(0, 3), gap=st.integers(0, 4), key=st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True))
def test_duplicate_key_at_any_depth_is_refused_with_its_lines(tmp_path_factory, depth, gap, key):
    """A key twice in any mapping, however deep and however far apart, is refused (YAML alone
    keeps the last one silently)."""
    indent = "  " * depth
    head = "".join("  " * d + f"level{d}:\n" for d in range(depth))
    body = f"{indent}{key}: 1\n" + "".join(f"{indent}other{i}: 2\n" for i in range(gap)) + f"{indent}{key}: 3\n"
    p = _write(tmp_path_factory.mktemp("dup"), "c.yaml", head + body)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    first = depth + 1
    assert f"{key!r} appears twice (lines {first} and {first + gap + 1})" in str(e.value)


def test_merge_keys_may_still_be_overridden(tmp_path):
    p = _write(tmp_path, "c.yaml", "base: &b {by: score, threshold: 0.4}\n")
    from churnlens.config import StrictLoader
    import yaml

    doc = yaml.load("a: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n", Loader=StrictLoader)
    assert doc["c"] == {"x": 3, "y": 2}
    assert p.exists()


def _all_keys(model=Config, prefix=()):
    """(dotted path, valid keys at that level) for every nested model of the config."""
    out = [(prefix, tuple(fields_at(Config, prefix)))]
    for name in fields_at(Config, prefix):
        sub = fields_at(Config, (*prefix, name))
        if sub and len(prefix) < 2:
            out += _all_keys(model, (*prefix, name))
    return out


LEVELS = [(p, keys) for p, keys in _all_keys() if keys]


@settings(max_examples=examples(40))
@given(level=st.sampled_from(LEVELS), data=st.data())
def test_misspelt_key_at_any_level_gets_did_you_mean_and_err_key(tmp_path_factory, level, data):
    """Every config level: a one-letter typo of a valid key is refused with the valid keys of
    that level, a "did you mean" naming a valid key, and ``err.key`` set to the typo's path."""
    prefix, valid = level
    word = data.draw(st.sampled_from(valid))
    bad = data.draw(typo(word).filter(lambda t: t not in valid))
    text = "".join("  " * i + f"{p}:\n" for i, p in enumerate(prefix)) + "  " * len(prefix) + f"{bad}: 1\n"
    p = _write(tmp_path_factory.mktemp("typo"), "c.yaml", text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert e.value.key == ".".join((*prefix, bad))
    assert "did you mean '" in msg
    suggested = msg.split("did you mean '")[1].split("'")[0]
    assert suggested in valid
    assert "valid keys here are: " + ", ".join(valid) in msg


def test_unknown_key_in_a_playbook_rule_lists_the_rule_keys(tmp_path):
    p = _write(tmp_path, "pb.yaml", "- when: {drivr: logins}\n  action: {en: a, zh: b}\n")
    with pytest.raises(PlaybookError) as e:
        load_playbook(p)
    assert "did you mean 'driver'" in str(e.value)
    assert e.value.key == "playbook.0.when.drivr"


@pytest.mark.parametrize("encoding,words", [("gbk", "looks like GBK"), ("utf-16", "looks like UTF-16"),
                                            ("latin-1", "is not UTF-8 text")])
def test_config_not_utf8_is_said_so(tmp_path, encoding, words):
    text = "report:\n  title: 流失报告\n" if encoding != "latin-1" else "report:\n  title: Übersicht für Köln\n"
    p = _write(tmp_path, "c.yaml", text.encode(encoding))
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert words in str(e.value) and "save it as UTF-8" in str(e.value)
    if encoding == "latin-1":
        assert "looks like" not in str(e.value)
    assert "syntax" not in str(e.value)


def test_config_with_utf8_bom_is_read(tmp_path):
    p = _write(tmp_path, "c.yaml", b"\xef\xbb\xbfreport:\n  title: x\n")
    assert load_config(p).report.title.en == "x"


def _cli_period(value: str) -> bool:
    try:
        cli._period(value)
    except argparse.ArgumentTypeError:
        return False
    return True


@settings(max_examples=examples(60))
@given(value=months)
def test_period_same_rule_from_config_cli_and_python(value):
    """``report.period`` in a file, ``--period`` and ``override(config, {"report.period": ...})``
    accept and refuse exactly the same values."""
    from_cli = _cli_period(value)
    try:
        ReportConfig(period=value)
        from_config = True
    except Exception:
        from_config = False
    try:
        override(Config(), {"report.period": value})
        from_python = True
    except ConfigError as e:
        assert e.key == "report.period"
        from_python = False
    assert from_cli == from_config == from_python == is_period(value)


def test_period_2026_13_refused_in_the_config_file(tmp_path):
    p = _write(tmp_path, "c.yaml", "report:\n  period: 2026-13\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.key == "report.period" and "2026-13" in str(e.value)


@pytest.mark.parametrize("text,key", [("seed: -1\n", "seed"), ("segmentation:\n  seed: -5\n", "segmentation.seed")])
def test_negative_seed_is_refused_cleanly(tmp_path, text, key):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, "c.yaml", text))
    assert e.value.key == key and "greater than or equal to 0" in str(e.value)
    assert SegmentationConfig(seed=0).seed == 0


def test_with_updates_validates_again():
    """pydantic's model_copy(update=...) would keep an invalid value; with_updates does not."""
    c = Config()
    assert Config().model_copy(update={"seed": -1}).seed == -1  # the pitfall itself
    with pytest.raises(ConfigError) as e:
        c.with_updates(seed=-1)
    assert e.value.key == "seed"
    with pytest.raises(ConfigError):
        c.with_updates(attribution__mode="some")
    d = c.with_updates(report__period="2026-11", attribution__mode="all")
    assert d.report.period == "2026-11" and d.attribution.mode == "all" and c.report.period is None
    with pytest.raises(ConfigError) as e:
        c.with_updates(report__titel="x")
    assert "did you mean 'title'" in str(e.value)


def test_nested_playbook_file_is_followed(tmp_path):
    _write(tmp_path, "more.yaml", RULE.replace("Call", "Second"))
    _write(tmp_path, "pb.yaml", "playbook_file: more.yaml\nplaybook:\n" + "".join("  " + l + "\n" for l in RULE.splitlines()))
    cfg = _write(tmp_path, "c.yaml", "playbook_file: pb.yaml\n")
    rules = config_rules(load_config(cfg), cfg)
    assert [r.action.en for r in rules] == ["Call", "Second"]


def test_playbook_file_cycle_is_refused_naming_the_chain(tmp_path):
    _write(tmp_path, "a.yaml", "playbook_file: b.yaml\n")
    _write(tmp_path, "b.yaml", "playbook_file: a.yaml\n")
    cfg = _write(tmp_path, "c.yaml", "playbook_file: a.yaml\n")
    with pytest.raises(PlaybookError) as e:
        config_rules(load_config(cfg), cfg)
    assert "cycle" in str(e.value) and "a.yaml -> " in str(e.value)


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("content", [
    f"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {SECRET}\n",
    f"aws_secret_access_key: {SECRET}\n",
    f"{SECRET}\n",
    f"password = {SECRET}: x: y\n",
    f"- {SECRET}\n",
])
def test_playbook_file_pointing_at_credentials_never_quotes_them(tmp_path, content, capsys):
    """A playbook_file set to a credentials file by mistake: the message describes the file by
    kind, never echoes its lines (checked through the CLI's printer too)."""
    _write(tmp_path, "credentials", content)
    cfg = _write(tmp_path, "c.yaml", "playbook_file: credentials\n")
    with pytest.raises(PlaybookError) as e:
        config_rules(load_config(cfg), cfg)
    assert SECRET not in str(e.value) and "AKIA" not in str(e.value)
    assert "credentials" in str(e.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_config_fifo_and_folder_described_by_kind(tmp_path):
    os.mkfifo(tmp_path / "c.yaml")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "c.yaml")  # must not block
    assert "named pipe (FIFO)" in str(e.value) and "does not exist" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)
    assert "is a folder" in str(e.value)


def test_oversized_config_refused_before_reading(tmp_path, monkeypatch):
    p = tmp_path / "c.yaml"
    with open(p, "wb") as fh:
        fh.truncate(3 << 20)  # sparse 3 MB
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "at most 1.0 MB" in str(e.value) and "CHURNLENS_MAX_CONFIG_MB" in str(e.value)
    monkeypatch.setenv("CHURNLENS_MAX_CONFIG_MB", "4")
    with pytest.raises(ConfigError) as e:  # now read: zero bytes are no YAML mapping... but parse
        load_config(p)
    assert "at most" not in str(e.value)


def test_long_value_is_shortened_in_the_message(tmp_path):
    p = _write(tmp_path, "c.yaml", "report:\n  accent: '" + "x" * 100_000 + "'\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert len(str(e.value)) < 600 and "…" in str(e.value)
