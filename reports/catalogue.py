"""Fixed texts of the documents and charts, one YAML catalogue per language.

``reports/i18n/en.yaml`` and ``reports/i18n/zh.yaml`` hold the same keys (a test checks
it); placeholders use :meth:`str.format` names, e.g. ``"{n} customers"``. A key may have a
singular form ``<key>_one`` (``"{n} customer"``), used when the count ``n`` (or ``count``) is 1.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from churnlens.errors import ConfigError

_DIR = Path(__file__).resolve().parent / "i18n"
# One catalogue file per language: adding ``i18n/<lang>.yaml`` (same keys) adds the language.
LANGS = tuple(sorted(p.stem for p in _DIR.glob("*.yaml")))


def _flatten(data: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    """All texts of ``lang`` as flat dotted keys ("summary.title")."""
    if lang not in LANGS:
        raise ConfigError(f"lang: report language {lang!r} is not supported; expected one of {LANGS}.",
                          argument="lang")
    path = _DIR / f"{lang}.yaml"
    return _flatten(yaml.safe_load(path.read_text(encoding="utf-8")))


def text(lang: str, key: str, /, **params: object) -> str:
    """The text of ``key`` in ``lang``, formatted with ``params``.

    When ``params["n"]`` (else ``params["count"]``) is 1 (a number, or the text "1" from a
    formatting filter) and ``<key>_one`` exists, the singular form is used. Raises ``KeyError`` for an unknown key:
    a missing text is a bug, not a fallback.
    """
    texts = catalogue(lang)
    n = params.get("n", params.get("count"))
    if f"{key}_one" in texts and (n == 1 or (isinstance(n, str) and n.strip() == "1")) and not isinstance(n, bool):
        key = f"{key}_one"
    s = texts[key]
    return s.format(**params) if params else s
