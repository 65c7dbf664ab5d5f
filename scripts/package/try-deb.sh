# Inside the throwaway root (scripts/package/throwaway.sh): install the .deb, use it, purge it.
# /work holds the .deb and sysmail.toml (a smarthost on 127.0.0.1). Fails at the first surprise.
set -euo pipefail
deb=$(ls /work/sysmail_*_all.deb)

# The MTA set-up as it is: what the three programs are, diversions, the alternatives.
mta_state() {
  for f in /usr/sbin/sendmail /usr/bin/mailq /usr/bin/newaliases /usr/lib/sendmail; do
    if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"
    elif [ -e "$f" ]; then echo "$f file $(sha256sum < "$f" | cut -c1-16) $(stat -c %a "$f")"
    else echo "$f missing"; fi
  done
  dpkg-divert --list | sort
  update-alternatives --query sendmail 2>&1 || :
  ls /etc/alternatives | grep -i -e sendmail -e mailq -e newaliases || :
}
mta_state > before.txt

echo "== dpkg -i $deb"
dpkg -i "$deb"
echo "== after install"
test "$(readlink -f /usr/sbin/sendmail)" = /usr/sbin/sendmail.sysmail || { echo "FAIL: /usr/sbin/sendmail is $(readlink -f /usr/sbin/sendmail), not sysmail"; exit 1; }
grep -q sysmail-wrapper /usr/sbin/sendmail.sysmail
test "$(readlink -f /usr/bin/mailq)" = /usr/bin/mailq.sysmail
sysmail --version
cp /work/sysmail.toml /etc/sysmail/sysmail.toml

echo "== cron-style mail"
printf 'From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@web1> run-parts /etc/cron.daily\n\nhello from cron\n' \
  | /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem root
sysmail flush
# sendmail started a detached delivery of its own; wait until nothing is queued or being delivered.
for _ in $(seq 100); do
  [ -z "$(find /var/spool/sysmail/queue /var/spool/sysmail/active -mindepth 1)" ] && break
  sleep 0.2
done
sysmail queue
test -z "$(find /var/spool/sysmail/queue /var/spool/sysmail/active -mindepth 1)" || { echo "FAIL: mail still queued"; exit 1; }

echo "== dpkg -i again (an upgrade to the same version): the registration stays, nothing redone"
dpkg -i "$deb" | tee reinstall.txt
grep -q 'sysmail install: nothing to do' reinstall.txt || { echo "FAIL: the upgrade's postinst changed something"; exit 1; }
test "$(readlink -f /usr/sbin/sendmail)" = /usr/sbin/sendmail.sysmail
cmp /work/sysmail.toml /etc/sysmail/sysmail.toml || { echo "FAIL: the upgrade replaced the edited config"; exit 1; }

echo "== sysmail doctor"
sysmail doctor

echo "== dpkg --purge sysmail"
rm -f /etc/sysmail/sysmail.toml   # the admin's edit; purge would remove it anyway
dpkg --purge sysmail
mta_state > after.txt
if ! diff -u before.txt after.txt; then echo "FAIL: the MTA set-up after purge differs from before install"; exit 1; fi
for d in /etc/sysmail /usr/lib/sysmail /var/lib/sysmail /var/log/sysmail /var/spool/sysmail; do
  if [ -e "$d" ]; then echo "FAIL: $d is left after purge"; ls -laR "$d"; exit 1; fi
done
echo "OK: .deb installed, used, purged; the MTA set-up is back exactly:"
cat after.txt
