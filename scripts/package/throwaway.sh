#!/bin/bash
# Runs a command inside a throwaway root: a private mount namespace in which an overlay over /
# (upper layer on a tmpfs) is the root of a chroot. Whatever the command changes (dpkg's database,
# /usr/sbin/sendmail, /etc) lands in the tmpfs and is gone when it exits; the host's own / is
# only ever read. Shares the host's network namespace, so 127.0.0.1 reaches the test smarthost.
#
#   throwaway.sh SCRIPT [FILE...]   SCRIPT (bash) runs as root in the throwaway root, in /work
#                                   where the FILEs are copied.
# Why this and not debootstrap: no network beyond the host, ~1 s to set up, and the root is the
# CI machine's real Debian 12 (its Postfix, dpkg database and alternatives) to take over and give
# back. Needs CAP_SYS_ADMIN (root) and overlayfs.
set -euo pipefail
script=$1; shift
t=$(mktemp -d /tmp/sysmail-throwaway.XXXXXX)
trap 'rmdir "$t"' EXIT
unshare --mount --propagation private /bin/bash -s "$t" "$script" "$@" <<'INNER'
set -euo pipefail
t=$1; script=$2; shift 2
mount -t tmpfs -o mode=0755 sysmail-throwaway "$t"
mkdir "$t/upper" "$t/work" "$t/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$t/root"
for m in proc sys dev dev/pts; do mount --rbind "/$m" "$t/root/$m"; done
mount -t tmpfs tmpfs "$t/root/run"
# A fresh host has no sysmail state: what earlier runs and tests left on this one (a message in the
# spool, caches, a log) is hidden in the overlay, so a package check sees only its own mail.
rm -rf "$t/root/var/spool/sysmail" "$t/root/var/cache/sysmail" "$t/root/var/lib/sysmail" "$t/root/var/log/sysmail" "$t/root/etc/sysmail"
mkdir -p "$t/root/work"
cp "$script" "$t/root/work/script.sh"
for f in "$@"; do cp "$f" "$t/root/work/"; done
cd "$t/root/work"
chroot "$t/root" /bin/bash -c 'cd /work && bash ./script.sh'
INNER
