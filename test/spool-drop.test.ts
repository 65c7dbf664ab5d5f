/**
 * Unprivileged submission: a real child process running as nobody (65534)
 * submits through drop/, then importDrop (as root) treats every entry as
 * hostile. Runs as root, like the rest of the suite.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync, chownSync, lchownSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync,
  symlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fixtures } from './helpers/paths.js';
import { canWriteQueue, openSpool, submitToDrop } from '../src/spool/file-spool.js';
import { encodeHeader } from '../src/spool/format.js';
import { idGenerator } from '../src/spool/ids.js';
import type { Envelope } from '../src/spool/types.js';

const spoolModule = new URL('../src/spool/file-spool.js', import.meta.url).href;
const dropChild = join(fixtures, 'spool', 'drop-child.mjs');
// Under /tmp and 0755, so nobody can reach drop/ (tempDir's mkdtemp makes 0700).
const root = mkdtempSync('/tmp/sysmail-drop-');
chmodSync(root, 0o755);
after(() => rmSync(root, { recursive: true, force: true }));

const NOBODY = 65534;
const env = (over: Partial<Envelope> = {}): Envelope => ({
  sender: 'someone@example.org', recipients: ['admin@example.net'], submittedAt: 1_700_000_000_000, uid: 0, user: 'root', via: 'sendmail', ...over,
});
const loginOf = (uid: number) =>
  readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[2] === String(uid))?.[0] ?? String(uid);

describe('drop directory', () => {
  it('nobody submits through drop/; the import trusts only the kernel and refuses every hostile entry', async () => {
    const dir = join(root, 'spool');
    const spool = openSpool({ dir, maxMessageSize: 4096 });
    await spool.prepare();
    assert.equal(statSync(dir).mode & 0o777, 0o711);
    assert.equal(canWriteQueue(dir), true, 'root writes the queue itself');
    const drop = join(dir, 'drop');

    // Another user's drop file, which nobody must not be able to read.
    const victimName = await submitToDrop(dir, env({ user: 'mallory', uid: 0 }), Buffer.from('Subject: victim\n\nprivate\n'));
    const victim = join(drop, victimName);
    chownSync(victim, 1234, 1234);
    assert.equal(statSync(victim).mode & 0o777, 0o600);

    const kid = spawn(process.execPath, [dropChild, spoolModule, dir, victim], { uid: NOBODY, gid: NOBODY, cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    kid.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const [code] = await once(kid, 'exit');
    assert.equal(code, 0);
    const r = JSON.parse(out) as Record<string, unknown>;
    assert.equal(r.uid, NOBODY);
    assert.equal(r.canWriteQueue, false);
    assert.equal(r.listQueue, 'EACCES');
    assert.equal(r.writeQueue, 'EACCES');
    assert.equal(r.readVictim, 'EACCES');
    assert.equal(r.symlink, 'ok');
    assert.equal(r.hardlink, 'ok');
    const nobodyFile = join(drop, r.dropName as string);
    assert.equal(statSync(nobodyFile).uid, NOBODY);
    assert.equal(statSync(nobodyFile).mode & 0o777, 0o600);

    // More hostile entries, planted by root on nobody's behalf.
    const secret = join(root, 'secret');
    writeFileSync(secret, 'TOP SECRET\n', { mode: 0o600 });
    linkSync(secret, join(drop, 'secret-link')); // as if protected_hardlinks were off
    symlinkSync(secret, join(drop, 'secret-symlink'));
    execFileSync('mkfifo', [join(drop, 'fifo')]);
    writeFileSync(join(drop, 'huge'), Buffer.alloc(2 * 1024 * 1024, 0x41));
    writeFileSync(join(drop, 'garbage'), 'hello, I am not a drop file\n');
    const bigBody = Buffer.alloc(5000, 0x42);
    writeFileSync(join(drop, 'bigmsg'), Buffer.concat([encodeHeader(env(), bigBody.length), bigBody]));
    mkdirSync(join(drop, 'adir'));
    writeFileSync(join(drop, '.fresh'), 'SYSMAIL 1\nsender <half');
    writeFileSync(join(drop, '.abandoned'), 'SYSMAIL 1\n');
    const old = (Date.now() - 2 * 3600_000) / 1000;
    utimesSync(join(drop, '.abandoned'), old, old);
    for (const n of ['fifo', 'huge', 'garbage', 'bigmsg', 'adir', '.fresh', '.abandoned']) lchownSync(join(drop, n), NOBODY, NOBODY);

    // A drop file taken by an importer that then died (same pid, other start time: a dead owner).
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').replace(/[^0-9a-f]/g, '').slice(0, 8);
    const orphan = join(dir, 'tmp', `drop-${idGenerator(Date.now, Math.random)()}.${process.pid}.1.${boot}`);
    const orphanBody = Buffer.from('Subject: orphan\n\nfrom a crashed import\n');
    writeFileSync(orphan, Buffer.concat([encodeHeader(env({ uid: 0 }), orphanBody.length), orphanBody]), { mode: 0o600 });
    chownSync(orphan, 4321, 4321);

    const ids = await spool.importDrop();
    assert.equal(ids.length, 3, `imported ${ids.join(', ')}`);
    const got = new Map<number, { id: string; env: Envelope; body: Buffer }>();
    for (const id of ids) {
      const c = await spool.claim(id);
      assert.ok(c);
      got.set(c.envelope.uid, { id, env: c.envelope, body: await c.readMessage() });
      await c.release();
    }
    const fromNobody = got.get(NOBODY);
    assert.ok(fromNobody, 'the message from nobody is queued under uid 65534');
    assert.equal(fromNobody.env.user, loginOf(NOBODY));
    assert.equal(fromNobody.env.via, 'drop');
    assert.equal(fromNobody.env.isBounce, undefined, 'a user cannot mark mail as a bounce');
    assert.ok(fromNobody.env.submittedAt > 1_600_000_000_000, 'the submission time is not taken from content');
    assert.deepEqual(fromNobody.env.recipients, ['admin@example.net']);
    assert.deepEqual(fromNobody.body, Buffer.from('Subject: from nobody\n\nhello from nobody\n'));
    assert.equal(got.get(1234)?.env.user, loginOf(1234));
    assert.deepEqual(got.get(1234)?.body, Buffer.from('Subject: victim\n\nprivate\n'));
    assert.deepEqual(got.get(4321)?.body, orphanBody);

    assert.deepEqual(readdirSync(drop), ['.fresh'], 'only the fresh temp file stays');
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    assert.equal(statSync(secret).nlink, 1, 'the extra link to the secret is gone');
    assert.equal(readFileSync(secret, 'utf8'), 'TOP SECRET\n');
    for (const m of got.values()) assert.ok(!m.body.includes('TOP SECRET'));

    const corrupt = await spool.listCorrupt();
    const reasonFor = (from: string) => corrupt.find((c) => c.from === `drop/${from}`)?.reason ?? `(nothing for ${from})`;
    assert.match(reasonFor('evil-symlink'), /symbolic link/);
    assert.match(reasonFor('secret-symlink'), /symbolic link/);
    assert.match(reasonFor('secret-link'), /hard links/);
    // Of a pair of links, the first seen is refused as a link; the other is then a lone garbage file.
    assert.match(reasonFor('hl-a') + reasonFor('hl-b'), /hard links/);
    assert.match(reasonFor('hl-b'), /hard links|not a valid drop file/);
    assert.match(reasonFor('hl-a'), /hard links|not a valid drop file/);
    assert.match(reasonFor('fifo'), /FIFO/);
    assert.match(reasonFor('huge'), /over the limit/);
    assert.match(reasonFor('bigmsg'), /5000-byte message, over the limit of 4096/);
    assert.match(reasonFor('garbage'), /not a valid drop file/);
    assert.match(reasonFor('adir'), /directory/);
    assert.equal(corrupt.find((c) => c.from === 'drop/fifo')?.uid, NOBODY);
    // Garbage is kept (owned by its sender, out of their reach in corrupt/); links are never kept.
    const kept = corrupt.find((c) => c.from === 'drop/garbage');
    assert.equal(readFileSync(join(dir, 'corrupt', kept!.name), 'utf8'), 'hello, I am not a drop file\n');
    assert.ok(corrupt.filter((c) => /link/.test(c.reason)).every((c) => c.size === 0));

    assert.deepEqual(await spool.importDrop(), [], 'a second pass finds nothing');
  });
});
