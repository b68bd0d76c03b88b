#!/usr/bin/env bash
# Render a few pages of a churnlens report folder to PNG screenshots under docs/.
#
#   docs/make_screenshots.sh REPORT_DIR [REPORT_PAGES] [DOSSIER_PAGES]
#
# REPORT_DIR holds report.pdf and dossier.pdf (from `churnlens demo` or `churnlens report`);
# the language is read from report.html (en or zh). Pages are space-separated lists,
# default "1 3 6 7 10 17 19" for the report and "1 3 6" for the dossier. Writes
# docs/report-<lang>-p<N>.png and docs/dossier-<lang>-p<N>.png at 110 dpi.
# Needs pdftoppm (Debian: apt-get install -y poppler-utils).
set -euo pipefail

dir=${1:?usage: docs/make_screenshots.sh REPORT_DIR [REPORT_PAGES] [DOSSIER_PAGES]}
report_pages=${2:-"1 3 6 7 10 17 19"}
dossier_pages=${3:-"1 3 6"}
docs=$(cd "$(dirname "$0")" && pwd)

command -v pdftoppm >/dev/null || { echo "pdftoppm not found: apt-get install -y poppler-utils" >&2; exit 2; }
for f in report.pdf dossier.pdf; do
  [ -f "$dir/$f" ] || { echo "$dir/$f not found: pass a churnlens report folder" >&2; exit 2; }
done
lang=en
if [ -f "$dir/report.html" ] && grep -q 'lang="zh-CN"' "$dir/report.html"; then lang=zh; fi

shoot() {  # pdf name page
  local pdf=$1 name=$2 page=$3 tmp
  local n
  n=$(pdfinfo "$pdf" | awk '/^Pages:/ {print $2}')
  if [ "$page" -gt "$n" ]; then echo "skip $name page $page (only $n pages)" >&2; return; fi
  tmp=$(mktemp -d)
  pdftoppm -png -r 110 -f "$page" -l "$page" -singlefile "$pdf" "$tmp/page"
  mv "$tmp/page.png" "$docs/$name-$lang-p$page.png"
  rmdir "$tmp"
  echo "$docs/$name-$lang-p$page.png"
}

for p in $report_pages; do shoot "$dir/report.pdf" report "$p"; done
for p in $dossier_pages; do shoot "$dir/dossier.pdf" dossier "$p"; done
