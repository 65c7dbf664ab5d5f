/**
 * readMessageSync (src/message/input-sync.ts): the same rules as the stream reader, from a file,
 * a pipe and a non-blocking FIFO (EAGAIN), as sendmail and `sysmail send` read standard input.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EX, SysmailError } from '../src/core/errors.js';
import { readMessageSync } from '../src/message/input-sync.js';
import { tempDir } from './helpers/paths.js';

const dir = tempDir('sysmail-input-');
let n = 0;
function read(text: string | Buffer, o: { dotEnds: boolean; maxSize?: number }): Buffer {
  const f = join(dir, `m${n++}`);
  writeFileSync(f, text);
  const fd = openSync(f, 'r');
  try { return readMessageSync(fd, { maxSize: 1 << 20, ...o }); } finally { closeSync(fd); }
}
const code = (fn: () => unknown) => { try { fn(); return null; } catch (e) { return e instanceof SysmailError ? `${e.code} ${e.exit}` : String(e); } };

describe('readMessageSync', () => {
  it('ends at a lone "." without -i, LF or CRLF, and at a final "." without a line end', () => {
    assert.equal(read('Subject: x\n\nline\n.\nafter\n', { dotEnds: true }).toString(), 'Subject: x\n\nline\n');
    assert.equal(read('a\r\n.\r\nb', { dotEnds: true }).toString(), 'a\r\n');
    assert.equal(read('a\n.', { dotEnds: true }).toString(), 'a\n');
    assert.equal(code(() => read('.\n', { dotEnds: true, maxSize: 10 })), `EEMPTY ${EX.DATAERR}`);
    assert.equal(read('..\n. \n.x\n.\r\r\nend', { dotEnds: true }).toString(), '..\n. \n.x\n.\r\r\nend');
  });

  it('reads to EOF with -i; refuses empty input; enforces the size limit as the stream reader does', () => {
    assert.equal(read('a\n.\nb\n.\n', { dotEnds: false }).toString(), 'a\n.\nb\n.\n');
    assert.equal(code(() => read('', { dotEnds: false })), `EEMPTY ${EX.DATAERR}`);
    assert.equal(code(() => read('x'.repeat(101), { dotEnds: false, maxSize: 100 })), `ETOOBIG ${EX.DATAERR}`);
    assert.equal(read('x'.repeat(100), { dotEnds: false, maxSize: 100 }).length, 100);
    assert.equal(read('x'.repeat(99) + '\n.\n' + 'y'.repeat(1000), { dotEnds: true, maxSize: 100 }).length, 100);
  });

  it('reads a real pipe across many chunks, and a closed descriptor as empty input', () => {
    const m = spawnSync(process.execPath, ['--input-type=module', '-e', `
      const { readMessageSync } = await import(${JSON.stringify(new URL('../src/message/input-sync.js', import.meta.url).href)});
      process.stdout.write(String(readMessageSync(0, { dotEnds: true, maxSize: 1 << 22 }).length));
    `], { input: 'Subject: piped\n\n' + 'line of text\n'.repeat(100_000) + '.\nnot read\n', encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    assert.equal(Number(m.stdout), 16 + 13 * 100_000);
    assert.equal(code(() => readMessageSync(987654, { dotEnds: false, maxSize: 10 })), `EEMPTY ${EX.DATAERR}`);
  });

  it('waits on a non-blocking descriptor (EAGAIN) until the writer has written', () => {
    const fifo = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      // The writer opens the FIFO, waits, then writes: the reader sees EAGAIN first.
      const w = spawn(process.execPath, ['-e', `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(fifo)}, 'w');
        setTimeout(() => { fs.writeSync(fd, 'Subject: late\\n\\nbody\\n'); fs.closeSync(fd); }, 300);`], { stdio: 'ignore' });
      // Until the writer has opened the FIFO, a read would be EOF: wait for it (bounded).
      const until = Date.now() + 10_000;
      let got: Buffer | null = null;
      while (!got && Date.now() < until) {
        try { got = readMessageSync(fd, { dotEnds: false, maxSize: 1000 }); } catch (e) { if ((e as SysmailError).code !== 'EEMPTY') throw e; Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); }
      }
      assert.equal(got?.toString(), 'Subject: late\n\nbody\n');
      w.kill();
    } finally { closeSync(fd); }
  });
});
