"""The report's logo: a PNG, JPEG or SVG file read into a ``data:`` URI (checked by the
preflight, embedded by the documents)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from churnlens.errors import ConfigError


def logo_data_uri(path: Path) -> str:
    """Read a logo file and return it as a ``data:`` URI after checking it is PNG, JPEG or SVG.

    SVG is embedded as an ``<img>`` source, where no script runs; external references inside
    it are refused by :class:`AssetFetcher`.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"report.logo: cannot read {path}: {err.strerror}. Give the path of a PNG, JPEG or "
                          "SVG file (relative to the config file).", key="report.logo") from None
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif data.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    else:
        head = data[:2048].decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
        head = re.sub(r"^(<\?xml[^>]*>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*", "", head, flags=re.S)
        if not head.startswith("<svg"):
            # never echo the file's bytes: a misconfigured path may point at a confidential file
            raise ConfigError(f"report.logo: {path} is not a PNG, JPEG or SVG file (it starts with neither a "
                              "PNG/JPEG signature nor an <svg> element). Convert the logo to PNG, JPEG or SVG.",
                              key="report.logo")
        mime = "image/svg+xml"
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
