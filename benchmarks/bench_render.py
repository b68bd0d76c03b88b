"""Render time of the full demo report (50,000 customers): budget 20 s per language.

Builds a demo-like ReportContext with the real stages (demo book + demo LightGBM model, exact
TreeSHAP, churner selection, HDBSCAN segmentation, evaluation, PSI, driver drift, campaign)
via ``tests/flow_fixture.py``, then times ``churnlens.reports.render_documents`` (HTML + PDF, both
documents) in English and Chinese, printing per-document and per-chart times.

    .venv/bin/python benchmarks/bench_render.py [--customers 50000] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUDGET_S = 20.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=None, help="keep the rendered documents here")
    args = ap.parse_args()

    from churnlens import reports
    from churnlens.reports.render import Timings
    from tests.flow_fixture import build_context, relabel

    t0 = time.perf_counter()
    ctx = build_context(args.customers)
    print(f"context: {args.customers:,} customers, {ctx.churners.count:,} churners, "
          f"{ctx.segmentation.n_segments} segments, display rows {len(ctx.display_rows):,} "
          f"(built in {time.perf_counter() - t0:.1f} s, not part of the budget)")
    ok = True
    for lang in ("en", "zh"):
        c = ctx if lang == "en" else relabel(ctx, "zh")
        out = (args.out / lang) if args.out else Path(tempfile.mkdtemp(prefix=f"bench_render_{lang}_"))
        out.mkdir(parents=True, exist_ok=True)
        tm = Timings()
        t = time.perf_counter()
        reports.render_documents(c, out, timings=tm)
        total = time.perf_counter() - t
        draw = sum(s for n, s in tm.charts if "[svg" not in n)
        svg = sum(s for n, s in tm.charts if "[svg" in n)
        print(f"\n[{lang}] total render {total:.2f} s (budget {BUDGET_S:.0f} s): "
              f"{'OK' if total <= BUDGET_S else 'OVER BUDGET'}")
        for name, s in tm.documents:
            print(f"  {name:<13} {s:6.2f} s")
        print(f"  charts: {sum(1 for n, _ in tm.charts if '[svg' not in n)} drawn in {draw:.2f} s, "
              f"serialised to SVG in {svg:.2f} s (included in the document times)")
        per = defaultdict(float)
        for n, s in tm.charts:
            per[n.split(" [")[0]] += s
        for n, s in sorted(per.items(), key=lambda x: -x[1])[:8]:
            print(f"    {n:<28} {s:5.2f} s")
        pages = {p.name: p.stat().st_size for p in out.iterdir()}
        print("  sizes: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(pages.items())))
        ok &= total <= BUDGET_S
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
