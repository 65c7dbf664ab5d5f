/**
 * Crash tests: a child process submits and SIGKILLs itself at each step of
 * the commit protocol (SYSMAIL_TEST_CRASH_AT). Nothing committed is lost,
 * nothing uncommitted is ever listed or claimable, and recovery cleans up.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, tempDir } from './helpers/paths.js';
import { openSpool, recoverStale } from '../src/spool/file-spool.js';

const spoolModule = new URL('../src/spool/file-spool.js', import.meta.url).href;
const child = join(fixtures, 'spool', 'crash-submit.mjs');
const base = tempDir('sysmail-crash-');
after(() => rmSync(base, { recursive: true, force: true }));

// Every byte value, many times over, so any damage shows.
const message = Buffer.concat([Buffer.from('Subject: crash\n\n'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256))]);
const messageFile = join(base, 'message');
writeFileSync(messageFile, message);

async function run(args: string[], crashAt?: string): Promise<{ code: number | null; signal: string | null; stdout: string }> {
  const env = { ...process.env };
  delete env.SYSMAIL_TEST_CRASH_AT;
  if (crashAt) env.SYSMAIL_TEST_CRASH_AT = crashAt;
  const p = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  const [code, signal] = (await once(p, 'exit')) as [number | null, string | null];
  return { code, signal, stdout };
}

describe('SIGKILL during submit', () => {
  let n = 0;
  it('control: without the hook the child submits and exits 0', async () => {
    const dir = join(base, `s${n++}`);
    const r = await run([child, spoolModule, dir, messageFile]);
    assert.equal(r.code, 0);
    const [m] = await openSpool({ dir }).list();
    assert.equal(m?.id, r.stdout.trim());
  });

  // The commit order is write, rename, fsync file, fsync directory (src/spool/fsutil.ts).
  for (const step of ['after-write', 'after-rename', 'after-fsync', 'after-dirsync']) {
    const committed = step !== 'after-write';
    it(`${step}: ${committed ? 'the message is queued, byte-identical' : 'no message, nothing claimable'}`, async () => {
      const dir = join(base, `s${n++}`);
      const r = await run([child, spoolModule, dir, messageFile], step);
      assert.equal(r.signal, 'SIGKILL', `the child should have been killed ${step}`);
      assert.equal(r.stdout, '', 'the child never reported success');
      const spool = openSpool({ dir });
      const listed = await spool.list();
      const tmp = readdirSync(join(dir, 'tmp'));
      if (committed) {
        assert.equal(listed.length, 1);
        assert.equal(listed[0]?.size, message.length);
        assert.deepEqual(tmp, []);
        const c = await spool.claim(listed[0]!.id);
        assert.ok(c);
        assert.deepEqual(c.envelope.recipients, ['admin@crash.example']);
        assert.deepEqual(await c.readMessage(), message);
        await c.release();
      } else {
        assert.deepEqual(listed, []);
        assert.equal(tmp.length, 1, 'the half-made file is only in tmp/');
        const id = (tmp[0] as string).split('.')[0] as string;
        assert.equal(await spool.claim(id), null);
        assert.equal(await spool.get(id), null);
      }
      const report = await recoverStale(dir);
      assert.equal(report.tmpRemoved.length, committed ? 0 : 1);
      assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
      assert.equal((await spool.list()).length, committed ? 1 : 0);
    });
  }

  it('a drop submission killed before its rename is never imported, and is not removed while fresh', async () => {
    const dir = join(base, `s${n++}`);
    const spool = openSpool({ dir });
    await spool.prepare();
    const script = `const { submitToDrop } = await import(${JSON.stringify(spoolModule)});
      await submitToDrop(${JSON.stringify(dir)}, { sender: 'u@x', recipients: ['r@x'], submittedAt: 1, uid: 1, user: 'u', via: 'sendmail' }, Buffer.from('hi\\n'));`;
    const r = await run(['--input-type=module', '-e', script], 'after-fsync');
    assert.equal(r.signal, 'SIGKILL');
    const left = readdirSync(join(dir, 'drop'));
    assert.equal(left.length, 1);
    assert.ok(left[0]!.startsWith('.'));
    assert.deepEqual(await spool.importDrop(), []);
    assert.deepEqual(readdirSync(join(dir, 'drop')), left);
    assert.deepEqual(await spool.list(), []);
  });
});
