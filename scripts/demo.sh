#!/usr/bin/env bash
# The README's first command: sysmail's main job on its embedded default, no config, no root.
set -euo pipefail
cd "$(dirname "$0")/.."
export SYSMAIL_STATE_DIR=${SYSMAIL_STATE_DIR:-/tmp/sysmail-demo}
unset SYSMAIL_CONFIG
[ -f dist/sysmail.js ] || npm run build >/dev/null
printf 'Subject: hello from sysmail\n\nIf you can read this, sysmail queued and delivered it.\n' \
  | node dist/sysmail.js sendmail -odq -i root
node dist/sysmail.js flush
echo "--- delivered into $SYSMAIL_STATE_DIR/Maildir/new:"
ls -1 "$SYSMAIL_STATE_DIR/Maildir/new" | tail -n 3
echo "--- newest message:"
cat "$SYSMAIL_STATE_DIR/Maildir/new/$(ls -1t "$SYSMAIL_STATE_DIR/Maildir/new" | head -n 1)"
echo "--- sysmail queue:"
node dist/sysmail.js queue
echo "--- sysmail log (last 3 events):"
node dist/sysmail.js log -n 3
