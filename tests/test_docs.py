"""The project's own docs carry the whole interface: every config key, every command and option."""

from __future__ import annotations

import argparse
import re
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from churnlens.cli import build_parser
from churnlens.config import Config, Text

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _nested(annotation, path: str):
    """(model, prefix) pairs of the pydantic models inside a field's annotation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [] if annotation is Text else [(annotation, path + ".")]
    if origin is dict:  # a mapping of user-chosen keys: features.<feature>, budget.channels.<channel>
        key = {"features": "<feature>", "channels": "<channel>"}.get(path.rsplit(".", 1)[-1], "<key>")
        return [(m, f"{path}.{key}.") for m, _ in _nested(args[1], "")]
    if origin is tuple:
        return [(m, f"{path}[].") for m, _ in _nested(args[0], "")]
    if origin in (typing.Union, types.UnionType):
        return [(m, path + ".") for a in args for m, _ in _nested(a, "")]
    return []


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        for sub, sub_prefix in _nested(field.annotation, prefix + name):
            keys += config_keys(sub, sub_prefix)
    return keys


def test_config_key_walk_finds_nested_keys():
    keys = config_keys()
    assert {"id_column", "segmentation.min_cluster_size", "features.<feature>.values",
            "playbook[].when.condition.op", "reasons.min_contribution_pp"} <= set(keys)


def test_every_config_key_is_documented():
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    missing = [k for k in config_keys() if f"`{k}`" not in text]
    assert not missing, f"docs/config.md lacks these keys: {missing}"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## `churnlens (\w+)`", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_command_and_option_is_documented(command):
    sections = _sections((DOCS / "cli.md").read_text(encoding="utf-8"))
    assert command in sections, f"docs/cli.md has no section ## `churnlens {command}`"
    common = {"--help", "--quiet", "--json", "--debug", "--verbose"}  # documented once, for every command
    options = {o for a in _subcommands()[command]._actions for o in a.option_strings if o.startswith("--")}
    missing = [o for o in sorted(options - common) if f"`{o}" not in sections[command]]
    assert not missing, f"docs/cli.md, section {command}, lacks {missing}"


def test_readme_points_only_inside_the_repository():
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)", readme):
        if target.startswith(("http://", "https://")):
            continue
        assert (DOCS.parent / target).exists(), f"README links to {target}, which is not in the repository"
        assert ".." not in Path(target).parts, target
