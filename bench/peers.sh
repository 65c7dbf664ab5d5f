#!/usr/bin/env bash
# peers.sh - sysmail against msmtp, esmtp, ssmtp, dma, nullmailer and Postfix in one interleaved
# run (issue 5 part 5, issue 4 part 6): per-invocation latency and peak RSS, a burst of N through
# each agent's sendmail and through `sysmail serve`'s SMTP listener, device and file bytes per
# message, serve's idle memory. Needs root (private mount namespace of the shared harness).
#
#   npm run build && bench/peers.sh [options of bench/lib/peers.py]
#   bench/peers.sh --phases latency,burst,disk --burst 1000 --burst-rounds 3     # the full run
#   bench/peers.sh --phases latency,burst,disk --rounds 10 --burst 200 --burst-rounds 1  # reduced
#
# The peers come from the shared harness (/work/shared/bench: setup-peers.sh, lib/ns.sh; read
# only); bench/lib/peers.py is our copy of its lib/bench.py with sysmail's additions.
# sysmail agents (each with its own config and spool on the same disk as the peers' spools):
#   sysmail          sendmail -t, no daemon: queue, then a detached `sysmail flush --id` delivers
#   sysmail+serve    sendmail -t with `sysmail serve --no-listen` running (it sees the new file)
#   sysmail-smtp     SMTP to `sysmail serve`'s listener on 127.0.0.1:$LISTEN_PORT (no sendmail)
#   sysmail-ram      like sysmail+serve, spool.mode = "ram" with the spool on tmpfs (bursts, disk)
#   sysmail-lean+serve  like sysmail+serve with the packaging bench/submit.mjs found fastest, when
#                    SYSMAIL_CLI_LEAN names it (bench/out/variants/cjs-cache-lean/sysmail.cjs)
#   sysmail-smtp-fast, sysmail-lean+serve-fast  with serve from SYSMAIL_CLI_FAST (the serve-fast
#                    variant of bench/build-variants.mjs: no 100 ms greeting pause, 2 ms debounce)
#   sysmail-nolog+serve  like sysmail+serve with log.file = false, when SYSMAIL_NOLOG=1
# Environment: SYSMAIL_CLI (default dist/sysmail.js), SHARED_BENCH (default /work/shared/bench),
# PEERS_DIR (default /opt/peers), LISTEN_PORT (default 12587), BENCH_OUT (output directory),
# BENCH_LOOP=1 (the spools on a loop device of their own: clean device counters; see below).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SHARED=${SHARED_BENCH:-/work/shared/bench}
P=${PEERS_DIR:-/opt/peers}
CLI=$(realpath "${SYSMAIL_CLI:-$ROOT/dist/sysmail.js}")
NODE=$(command -v node)
LISTEN_PORT=${LISTEN_PORT:-12587}
[ "$(id -u)" = 0 ] || { echo "peers.sh: must run as root (the harness uses a private mount namespace)" >&2; exit 77; }
[ -f "$CLI" ] || { echo "peers.sh: $CLI not found; run \`npm run build\` or set SYSMAIL_CLI" >&2; exit 66; }
[ -f "$P/conf/SINK_PORT" ] && [ -d "$P/fs/usr" ] || "$SHARED/setup-peers.sh"
SINK_PORT=$(cat "$P/conf/SINK_PORT")
OUT=${BENCH_OUT:-$ROOT/bench/out/peers-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/conf"

# Paths as the namespace sees them: /var/spool is $P/state/spool (real disk, like the peers'
# spools); $P/state/run is a tmpfs there.
SP=/var/spool/sysmail-bench
RAM=$P/state/run/sysmail-ram
rm -rf "$P/state/spool/sysmail-bench"

conf() { # name spool mode listen [log.file value]
  local logv=${5:-"\"$SP/log/$1.log\""}
  cat > "$OUT/conf/$1.toml" <<EOF
# sysmail benchmark config ($1), written by bench/peers.sh
[general]
hostname = "bench.example.org"
domain = "example.org"
aliases = false

[spool]
dir = "$2"
mode = "$3"

[log]
file = $logv

[listener]
listen = $4

[transports.sink]
type = "smtp"
host = "127.0.0.1"
port = $SINK_PORT
security = "none"
EOF
  chmod 600 "$OUT/conf/$1.toml"
}
q() { echo "[\"$1/queue\", \"$1/active\", \"$1/tmp\", \"$1/drop\"]"; }
AGENTS=()
agent() { AGENTS+=("$1"); }
# agent NAME SENDMAIL-CLI|- DAEMON-CLI|- CONF SPOOL PHASES NOTE [SMTP-PORT]
add() {
  local name=$1 scli=$2 dcli=$3 cf=$4 spool=$5 phases=$6 note=$7 port=${8:-}
  local argv='null' daemon='null' smtp=''
  [ "$scli" != - ] && argv="[\"$NODE\", \"$scli\", \"sendmail\", \"-C\", \"$OUT/conf/$cf.toml\"]"
  if [ "$dcli" != - ]; then
    if [ -n "$port" ]; then daemon="[\"$NODE\", \"$dcli\", \"serve\", \"-C\", \"$OUT/conf/$cf.toml\"]"
    else daemon="[\"$NODE\", \"$dcli\", \"serve\", \"--no-listen\", \"-C\", \"$OUT/conf/$cf.toml\"]"; fi
  fi
  [ -n "$port" ] && smtp="\"smtp_port\": $port, \"tflag\": false, "
  agent "{\"name\": \"$name\", $smtp\"argv\": $argv, \"daemon\": $daemon, \"queue_dirs\": $(q "$spool"), \"phases\": $phases, \"note\": \"$note\"}"
}
ALL='null'
conf sysmail "$SP/default" disk '[]'
add sysmail "$CLI" - sysmail "$SP/default" "$ALL" 'sendmail -t; a detached sysmail flush delivers'
conf serve "$SP/serve" disk '[]'
add sysmail+serve "$CLI" "$CLI" serve "$SP/serve" "$ALL" 'sendmail -t; sysmail serve delivers'
conf smtp "$SP/smtp" disk "[\"127.0.0.1:$LISTEN_PORT\"]"
add sysmail-smtp - "$CLI" smtp "$SP/smtp" '["latency", "burst", "disk"]' "SMTP to sysmail serve" "$LISTEN_PORT"
conf ram "$RAM" ram '[]'
add sysmail-ram "$CLI" "$CLI" ram "$RAM" '["burst", "disk"]' 'spool.mode ram on tmpfs; sysmail serve delivers'
if [ -n "${SYSMAIL_CLI_LEAN:-}" ]; then
  LEAN=$(realpath "$SYSMAIL_CLI_LEAN")
  conf lean "$SP/lean" disk '[]'
  add sysmail-lean+serve "$LEAN" "$CLI" lean "$SP/lean" '["latency", "burst"]' "sendmail -t from $SYSMAIL_CLI_LEAN"
fi
if [ -n "${SYSMAIL_CLI_FAST:-}" ]; then
  FAST=$(realpath "$SYSMAIL_CLI_FAST")
  conf smtpfast "$SP/smtpfast" disk "[\"127.0.0.1:$((LISTEN_PORT + 1))\"]"
  add sysmail-smtp-fast - "$FAST" smtpfast "$SP/smtpfast" '["latency", "burst", "disk"]' "SMTP to serve from $SYSMAIL_CLI_FAST" "$((LISTEN_PORT + 1))"
  if [ -n "${SYSMAIL_CLI_LEAN:-}" ]; then
    conf leanfast "$SP/leanfast" disk '[]'
    add sysmail-lean+serve-fast "$LEAN" "$FAST" leanfast "$SP/leanfast" '["latency", "burst"]' "lean sendmail; serve from $SYSMAIL_CLI_FAST"
  fi
fi
if [ "${SYSMAIL_NOLOG:-0}" = 1 ]; then
  conf nolog "$SP/nolog" disk '[]' false
  add sysmail-nolog+serve "$CLI" "$CLI" nolog "$SP/nolog" '["burst", "disk"]' 'log.file = false; sysmail serve delivers'
fi
{ echo '['; (IFS=,; echo "${AGENTS[*]}"); echo ']'; } > "$OUT/conf/agents.json"

export BENCH_SMTP_HOST=127.0.0.1 BENCH_SMTP_PORT=$SINK_PORT SYSMAIL_AGENTS=$OUT/conf/agents.json
# NODE_EXTRA_CA_CERTS (set on this machine) makes every Node start-up read and parse the whole CA
# bundle: +30 ms to `node -e 0` here. cron and systemd do not set it, so neither does the run.
# NODE_OPTIONS would change what is measured too. BENCH_KEEP_NODE_ENV=1 keeps both.
[ "${BENCH_KEEP_NODE_ENV:-0}" = 1 ] || unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
echo "peers.sh: output in $OUT" >&2
[ "${PEERS_DRY:-0}" = 1 ] && { cat "$OUT/conf/agents.json" "$OUT/conf/nolog.toml" 2>/dev/null; exit 0; }
# BENCH_LOOP=1: /var/spool on an ext4 loop device of its own, so that the device counters (bytes
# written, flushes, journal included) count only the agents, not the other tenants of the disk.
NS=$SHARED/lib/ns.sh
[ "${BENCH_LOOP:-0}" = 1 ] && NS=$HERE/lib/ns-loop.sh
"$NS" python3 "$HERE/lib/peers.py" --out "$OUT" --baseline msmtp "$@"
