"""Where things are printed on a PDF page, measured on the file (pypdf's content-stream parser).

:func:`overflows` walks every page's content stream (and the form XObjects it draws: charts,
images) with the graphics state a PDF viewer keeps (``q``/``Q``/``cm``, ``BT``/``Tm``/``Td``/``Tf``),
and measures the right end of every text run from the font's glyph widths (``/W`` of the
WeasyPrint Type0 fonts, ``/Widths`` of simple fonts) and of every drawn form or image from its
bounding box. Anything ending beyond the page's right margin is returned: a table column or a
chart running off the page, a fingerprint that does not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import ArrayObject, ContentStream, NameObject

MM = 72 / 25.4
IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class Overflow:
    page: int  # 1-based
    right: float  # points from the page's left edge
    limit: float
    what: str  # the text run, or "form /x3" / "image /i1"

    def __str__(self) -> str:
        return f"page {self.page}: {self.what!r} ends at {self.right:.1f} pt (> {self.limit:.1f} pt)"


def _mul(a, b):
    """Matrix product a x b of PDF matrices (a applied first)."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3],
            a[4] * b[0] + a[5] * b[2] + b[4], a[4] * b[1] + a[5] * b[3] + b[5])


def _apply(m, x, y):
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


class _Font:
    def __init__(self, font):
        font = font.get_object()
        self.two_bytes = font.get("/Subtype") == "/Type0"
        self.widths: dict[int, float] = {}
        self.default = 1000.0
        self.unicode: dict[int, str] = {}
        if "/ToUnicode" in font:
            self._read_cmap(font["/ToUnicode"].get_object().get_data().decode("latin-1"))
        if self.two_bytes:
            desc = font["/DescendantFonts"][0].get_object()
            self.default = float(desc.get("/DW", 1000))
            w = desc.get("/W", ArrayObject())
            i = 0
            while i < len(w):
                first = int(w[i])
                if isinstance(w[i + 1], ArrayObject) or isinstance(w[i + 1].get_object(), ArrayObject):
                    for k, v in enumerate(w[i + 1].get_object()):
                        self.widths[first + k] = float(v)
                    i += 2
                else:
                    last, v = int(w[i + 1]), float(w[i + 2])
                    for c in range(first, last + 1):
                        self.widths[c] = v
                    i += 3
        else:
            first = int(font.get("/FirstChar", 0))
            for k, v in enumerate(font.get("/Widths", ())):
                self.widths[first + k] = float(v)
            self.default = 0.0

    def _read_cmap(self, cmap: str) -> None:
        def u(h: str) -> str:
            b = bytes.fromhex(h)
            return b.decode("utf-16-be", "replace") if len(b) > 1 else b.decode("latin-1")

        for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
            for code, uni in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]*)>", block):
                self.unicode[int(code, 16)] = u(uni)
        for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
            for lo, hi, uni in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
                start = int(uni, 16)
                for k, c in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                    self.unicode[c] = chr(start + k)

    def text(self, code: int) -> str:
        return self.unicode.get(code, "?")

    def codes(self, raw: bytes) -> list[int]:
        if self.two_bytes:
            return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw) - 1, 2)]
        return list(raw)

    def width(self, code: int) -> float:
        return self.widths.get(code, self.default)


def _raw(s) -> bytes:
    if isinstance(s, bytes):
        return bytes(s)
    for attr in ("original_bytes", "get_original_bytes"):
        v = getattr(s, attr, None)
        if v is not None:
            return v() if callable(v) else v
    return str(s).encode("latin-1", "replace")


@dataclass
class _Run:
    page: int
    x0: float
    x1: float
    text: list


def _walk(reader, stream, resources, ctm, page, runs, shapes, depth=0):
    fonts = {}
    font_dict = resources.get("/Font", {}) if resources else {}
    xobjects = resources.get("/XObject", {}) if resources else {}
    stack = []
    tm = tlm = IDENTITY
    font, size, tc, tw, th, leading = None, 0.0, 0.0, 0.0, 1.0, 0.0
    try:
        ops = ContentStream(stream, reader).operations
    except Exception:  # pragma: no cover - a stream pypdf cannot parse is not ours to measure
        return

    def show(strings):
        nonlocal tm
        start = _apply(_mul(tm, ctm), 0, 0)[0]
        adv, chars = 0.0, []
        for item in strings:
            if isinstance(item, (int, float)) or type(item).__name__ in ("NumberObject", "FloatObject"):
                adv -= float(item) / 1000 * size * th
                continue
            raw = _raw(item)
            for code in font.codes(raw):
                adv += (font.width(code) / 1000 * size + tc + (tw if code == 32 else 0)) * th
                chars.append(font.text(code))
        end = _apply(_mul(tm, ctm), adv, 0)[0]
        runs.append(_Run(page, min(start, end), max(start, end), chars))
        tm = _mul((1, 0, 0, 1, adv, 0), tm)

    for operands, op in ops:
        if op == b"q":
            stack.append((ctm, font, size, tc, tw, th, leading))
        elif op == b"Q":
            if stack:
                ctm, font, size, tc, tw, th, leading = stack.pop()
        elif op == b"cm":
            ctm = _mul(tuple(float(x) for x in operands[:6]), ctm)
        elif op == b"BT":
            tm = tlm = IDENTITY
        elif op == b"Tm":
            tm = tlm = tuple(float(x) for x in operands[:6])
        elif op in (b"Td", b"TD"):
            if op == b"TD":
                leading = -float(operands[1])
            tm = tlm = _mul((1, 0, 0, 1, float(operands[0]), float(operands[1])), tlm)
        elif op == b"T*":
            tm = tlm = _mul((1, 0, 0, 1, 0, -leading), tlm)
        elif op == b"TL":
            leading = float(operands[0])
        elif op == b"Tc":
            tc = float(operands[0])
        elif op == b"Tw":
            tw = float(operands[0])
        elif op == b"Tz":
            th = float(operands[0]) / 100
        elif op == b"Tf":
            name = operands[0]
            if name not in fonts and name in font_dict:
                fonts[name] = _Font(font_dict[name])
            font, size = fonts.get(name), float(operands[1])
        elif op in (b"Tj", b"'", b'"') and font is not None:
            if op != b"Tj":
                tm = tlm = _mul((1, 0, 0, 1, 0, -leading), tlm)
            show([operands[-1]])
        elif op == b"TJ" and font is not None:
            show(list(operands[0]))
        elif op == b"Do" and depth < 8:
            name = operands[0]
            if name not in xobjects:
                continue
            xo = xobjects[name].get_object()
            if xo.get("/Subtype") == "/Image":
                xs = [_apply(ctm, x, y)[0] for x in (0, 1) for y in (0, 1)]
                shapes.append((page, min(xs), max(xs), f"image {name}"))
            elif xo.get("/Subtype") == "/Form":
                m = tuple(float(x) for x in xo.get("/Matrix", IDENTITY))
                inner = _mul(m, ctm)
                b = [float(x) for x in xo.get("/BBox", (0, 0, 0, 0))]
                xs = [_apply(inner, x, y)[0] for x in (b[0], b[2]) for y in (b[1], b[3])]
                shapes.append((page, min(xs), max(xs), f"form {name}"))
                _walk(reader, xo, xo.get("/Resources", resources), inner, page, runs, shapes, depth + 1)


def measure(path: Path) -> tuple[list[_Run], list[tuple], list[float]]:
    """Every text run and drawn form/image of the document, and each page's width."""
    reader = PdfReader(str(path))
    runs, shapes, widths = [], [], []
    for i, page in enumerate(reader.pages, start=1):
        widths.append(float(page.mediabox.width))
        contents = page.get_contents()
        if contents is not None:
            _walk(reader, contents, page.get("/Resources"), IDENTITY, i, runs, shapes)
    return runs, shapes, widths


def overflows(path: Path, *, margin_mm: float = 16.0, tolerance: float = 1.0) -> list[Overflow]:
    """Text runs, charts and images that end beyond the right margin (``margin_mm`` from the edge)."""
    runs, shapes, widths = measure(path)
    out = []
    for r in runs:
        limit = widths[r.page - 1] - margin_mm * MM
        if r.x1 > limit + tolerance:
            out.append(Overflow(r.page, r.x1, limit, "".join(r.text)))
    for page, _x0, x1, what in shapes:
        limit = widths[page - 1] - margin_mm * MM
        if x1 > limit + tolerance:
            out.append(Overflow(page, x1, limit, what))
    return out
