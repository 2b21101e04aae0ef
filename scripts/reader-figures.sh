#!/usr/bin/env bash
# Every figure of the README's "Readers and figures" table, for one reader: OUT=DIR READER=... bash scripts/reader-figures.sh
# READER: neural (the default), heuristic, or a model folder. SAMPLE: questions per SQuAD run (default 200).
# THRESHOLD: "not found" below this score (default: the reader's own; 0 gives the always-answering row).
# Held-out SQuAD runs are for reporting only; nothing here tunes anything. The newsqa-dev index, the SQuAD
# held-out paragraph index and the seed index are built on the first run and reused (see eval/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to a folder for the reports}
READER=${READER:-neural}
SAMPLE=${SAMPLE:-200}
NEWSQA_SAMPLE=${NEWSQA_SAMPLE:-}
THRESHOLD=${THRESHOLD:-}
QA=.venv/bin/qa
mkdir -p "$OUT"
run() {  # name, then the qa eval arguments
  local name=$1; shift
  echo "== $name" | tee -a "$OUT/log"
  $QA eval "$@" --reader "$READER" ${THRESHOLD:+--threshold "$THRESHOLD"} --quiet --json --report "$OUT/$name" > "$OUT/$name.json"
  python3 - "$OUT/$name.json" <<'PY' | tee -a "$OUT/log"
import json, sys
s = json.load(open(sys.argv[1]))
a = s["answers"]
extra = f" HasAns F1 {a['HasAns_f1']:.1f} NoAns {a['NoAns_exact']:.1f}" if a.get("NoAns_total") else ""
print(f"   {s['questions']} q  EM {a['exact']:.1f}  F1 {a['f1']:.1f}{extra}  read p50 {s['latency']['read']['p50_ms']:.0f} ms")
PY
}
SEED_INDEX=${SEED_INDEX:-$HOME/.cache/news-qa/seed-index}
$QA ingest ../shared/seeds --index "$SEED_INDEX" --quiet
run seeds ../shared/seeds/questions.jsonl --index "$SEED_INDEX"
run newsqa-dev ../shared/newsqa/newsqa-dev.json --build-index ${NEWSQA_SAMPLE:+--sample $NEWSQA_SAMPLE --seed 0}
for v in v1.1 v2.0; do
  run squad-$v-oracle ../shared/squad/squad-dev-$v.json --split heldout --oracle --sample "$SAMPLE" --seed 0
  run squad-$v-pipeline ../shared/squad/squad-dev-$v.json --split heldout --build-index --sample "$SAMPLE" --seed 0
done
