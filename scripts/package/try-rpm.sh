# Inside the throwaway root (scripts/package/throwaway.sh): install the .rpm with `rpm --root`
# into an empty directory, then run its bundle from there to queue and deliver one message to
# the smarthost in /work/sysmail.toml. --nodeps: the empty root has no rpm database (nodejs,
# /bin/sh); --noscripts: the scriptlets call alternatives/semodule, which only an EL host has
# (their text is checked by check.mjs with rpm -qp --scripts).
set -euo pipefail
rpmfile=$(ls /work/sysmail-*.noarch.rpm)
r=/work/elroot
mkdir -p "$r"
rpm --root "$r" --nodeps --noscripts -i "$rpmfile"
rpm --root "$r" -q sysmail
rpm --root "$r" -V --nodeps sysmail && echo "rpm -V: every file as packaged"
test -x "$r/usr/sbin/sendmail.sysmail" && grep -q 'exec .*/usr/lib/sysmail/dist/sysmail.js' "$r/usr/sbin/sendmail.sysmail"
test "$(stat -c %a "$r/etc/sysmail/secrets")" = 700
# The bundle as installed, run by the host's node, with its own node_modules.
run() { node "$r/usr/lib/sysmail/dist/sysmail.js" "$@"; }
run --version
export SYSMAIL_CONFIG=/work/sysmail.toml
printf 'Subject: from the rpm bundle\n\nhello from the rpm\n' | run sendmail -t -i root
run flush
# sendmail started a detached delivery of its own; wait until nothing is queued or being delivered.
for _ in $(seq 100); do
  [ -z "$(find /var/spool/sysmail/queue /var/spool/sysmail/active -mindepth 1)" ] && break
  sleep 0.2
done
test -z "$(find /var/spool/sysmail/queue /var/spool/sysmail/active -mindepth 1)" || { echo "FAIL: mail still queued"; exit 1; }
echo "OK: .rpm installed with rpm --root; its bundle queued and delivered a message"
