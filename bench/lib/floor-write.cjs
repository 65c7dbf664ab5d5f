// Copied from the shared peer harness (/work/shared/bench/lib/floor-write.js) so that bench/ runs alone.
// Node.js floor for a durable submit: create a new file, write 2 KB, fsync it.
// usage: node floor-write.js DIR [--dirsync]
// --dirsync also fsyncs DIR, which a crash-safe queue needs after creating a
// file (the file's directory entry is otherwise not durable).
'use strict';
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
const file = path.join(dir, `${process.pid}-${process.hrtime.bigint()}`);
const fd = fs.openSync(file, 'wx', 0o600);
fs.writeSync(fd, Buffer.alloc(2048, 0x78));
fs.fsyncSync(fd);
fs.closeSync(fd);
if (process.argv[3] === '--dirsync') {
  const dfd = fs.openSync(dir, 'r');
  fs.fsyncSync(dfd);
  fs.closeSync(dfd);
}
