#!/usr/bin/env bash
# issue10.sh - every figure of docs/benchmarks.md, "Fast submission (issue 10)", in one run:
#   1. start-up: node -e 0 vs sendmail -odq -t / -t / -t with serve running / -t with the path
#      unit (bench/submit.mjs), interleaved; with BASE=REV also that commit's build, same run
#   2. device bytes per message one by one, nullmailer and dma in the same run (bench/peers.sh
#      burst phase on its own ext4 loop device; needs root)
#   3. how many processes of the test suite took the sendmail fast path (bench/fastpath-count.mjs)
#
#   bench/issue10.sh                 (BASE=cd9e3b9 bench/issue10.sh: compare with the commit before issue 10;
#                                     PEERS=0: without the device-bytes phase)
# Output: bench/out/issue10-<time>/{submit.md,submit.json,peers/,fastpath-count.txt}
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=bench/out/issue10-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
npm run build >/dev/null
EXTRA=()
if [ -n "${BASE:-}" ]; then
  rm -rf bench/out/base-src && mkdir -p bench/out/base-src
  git archive "$BASE" | tar -x -C bench/out/base-src
  ln -s "$ROOT/node_modules" bench/out/base-src/node_modules
  (cd bench/out/base-src && npx tsc -p tsconfig.json && node scripts/bundle.mjs --cjs-cache >/dev/null)
  EXTRA=(--extra base=bench/out/base-src/dist/sysmail.js)
fi
VARIANTS='node -e 0,node write+fsync,sendmail -odq -t,sendmail -t,sendmail -t (serve running),sendmail -t (path unit)'
[ -n "${BASE:-}" ] && VARIANTS="$VARIANTS,base -odq,base -t"
env -u NODE_EXTRA_CA_CERTS node bench/submit.mjs --rounds "${ROUNDS:-30}" "${EXTRA[@]}" --variants "$VARIANTS" --out "$OUT/submit.json" | tee "$OUT/submit.md"
if [ "${PEERS:-1}" != 0 ]; then  # PEERS=0: skip the device-bytes phase (needs nullmailer, dma, root)
AGENTS=nullmailer,dma,sysmail,sysmail+serve
LEAN=()
[ -n "${BASE:-}" ] && { AGENTS=$AGENTS,sysmail-lean+serve; LEAN=(SYSMAIL_CLI_LEAN=bench/out/base-src/dist/sysmail.js); }
env BENCH_LOOP=1 BENCH_OUT="$OUT/peers" "${LEAN[@]}" bench/peers.sh --phases burst --agents "$AGENTS" \
  --burst "${BURST:-200}" --burst-rounds "${BURST_ROUNDS:-3}" --slow-burst-rounds 0
fi
node bench/fastpath-count.mjs | tee "$OUT/fastpath-count.txt"
