#!/usr/bin/env bash
# ns-loop.sh CMD [ARG...] - the shared harness's private mount namespace (lib/ns.sh in
# /work/shared/bench), except that /var/spool is a fresh ext4 file system of its own on a loop
# device, holding a copy of $PEERS_DIR/state/spool. The device counters of that loop device
# (/sys/block/loopN/stat) then count only what the mail agents' spools and logs cause (data,
# metadata and the ext4 journal), not the other tenants of this shared disk.
#
# The image lives in $PEERS_DIR/state/spool.img (2 GiB, on the real disk), is made afresh for
# each run with the host mkfs.ext4 defaults but the inode tables and journal zeroed at once (not by
# ext4lazyinit in the background, whose writes would be counted), mounted with the root file
# system's `discard`; the loop device goes away with the namespace.
set -euo pipefail
P=${PEERS_DIR:-/opt/peers}
if [ "${BENCH_IN_NS:-}" != 1 ]; then
  exec unshare --mount --propagation private env BENCH_IN_NS=1 "$0" "$@"
fi
[ -d "$P/fs/usr" ] || { echo "ns-loop.sh: $P/fs missing; run setup-peers.sh first" >&2; exit 1; }
mount -t overlay overlay -o "lowerdir=$P/fs/usr:/usr" /usr
mkdir -p "$P/state/etc.upper" "$P/state/etc.work" "$P/state/run"
mount -t overlay overlay -o "lowerdir=$P/fs/etc:/etc,upperdir=$P/state/etc.upper,workdir=$P/state/etc.work" /etc
mount -t tmpfs -o mode=0755,size=64m tmpfs "$P/state/run"

IMG=$P/state/spool.img
rm -f "$IMG"
truncate -s 2G "$IMG"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$IMG"  # no background zeroing to count
LOOP=$(losetup --find --show "$IMG")
trap 'rm -f "$IMG"' EXIT
mount -o discard "$LOOP" /var/spool
# Detach now: the kernel marks the mounted device autoclear and frees it once the namespace (the
# last user of the mount) is gone, however the run ends.
losetup -d "$LOOP"
cp -a "$P/state/spool/." /var/spool/
sync
echo "ns-loop.sh: /var/spool is $LOOP (ext4 on $IMG)" >&2
"$@"
