"""The CJK font the documents and charts use, found without any manual install.

The PyPI package ``pylopdf_fonts_zh_cn`` ships Noto Sans SC (OFL, one weight). A system
Noto CJK font is used only when that package is absent.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

CJK_FAMILY = "Noto Sans SC"
LATIN_FAMILY = "DejaVu Sans"  # ships with matplotlib, so always available to charts

_SYSTEM_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)


@functools.lru_cache(maxsize=1)
def cjk_font_path() -> Optional[Path]:
    """Absolute path of the bundled Noto Sans SC ``.otf`` (or a system Noto CJK), or None."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:  # pragma: no cover - the package is a dependency
        pkg = None
    else:
        pkg = Path(pylopdf_fonts_zh_cn.__file__).resolve().parent / "NotoSansSC-Regular.otf"
    if pkg is not None and pkg.is_file():
        return pkg
    for cand in _SYSTEM_CANDIDATES:  # pragma: no cover - fallback
        if Path(cand).is_file():
            return Path(cand).resolve()
    return None  # pragma: no cover


@functools.lru_cache(maxsize=1)
def register_matplotlib_cjk() -> Optional[str]:
    """Add the CJK font to matplotlib's font manager once; return its family name."""
    path = cjk_font_path()
    if path is None:  # pragma: no cover
        return None
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()
