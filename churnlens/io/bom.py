"""UTF-8 byte-order mark on CSV outputs (``report.excel_bom``): Excel reads BOM-less UTF-8 CSV
in the system code page, which garbles Chinese segment names and reasons."""

from __future__ import annotations

from pathlib import Path

BOM = b"\xef\xbb\xbf"


def add_utf8_bom(folder: Path) -> tuple[Path, ...]:
    """Prefix every ``*.csv`` under ``folder`` (not already marked) with the UTF-8 BOM; returns them."""
    done = []
    for path in sorted(Path(folder).rglob("*.csv")):
        data = path.read_bytes()
        if not data.startswith(BOM):
            path.write_bytes(BOM + data)
            done.append(path)
    return tuple(done)
