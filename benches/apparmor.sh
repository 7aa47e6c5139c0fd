#!/usr/bin/env bash
# AppArmor benchmark: generating the profiles for the whole policy-template corpus (front-end,
# composition against generated workloads, lowering, writing profile + source map) must take under
# 5% of the time `apparmor_parser -QK` (the peer) needs to check the generated profiles.
# Needs: hyperfine and apparmor (.ci/install-apparmor.sh), the corpus at ../shared/corpus.
# Usage: benches/apparmor.sh            (prints both means and the ratio)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p armorc-compiler --example aa_corpus_gen
gen=target/release/examples/aa_corpus_gen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$gen" "$work/profiles"
ls "$work/profiles" | grep -v '\.map\.json$' | sed "s|^|$work/profiles/|" > "$work/list"
echo "profiles: $(wc -l < "$work/list")"
hyperfine --warmup 1 --runs 5 --export-json "$work/result.json" \
  --command-name generate --prepare "rm -rf $work/gen" "$gen $work/gen 2>/dev/null" \
  --command-name apparmor_parser --prepare "true" "xargs apparmor_parser -QK < $work/list 2>/dev/null"
python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
ratio = r["generate"] / r["apparmor_parser"]
print(f"generate {r['generate']*1000:.1f} ms, apparmor_parser -QK {r['apparmor_parser']*1000:.1f} ms, ratio {ratio*100:.2f}% (target < 5%)")
sys.exit(0 if ratio < 0.05 else 1)
PY
