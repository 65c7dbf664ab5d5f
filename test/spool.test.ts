/**
 * The file spool on real temp dirs: round trips, the write-once message file,
 * the bytes a delivered message costs, exclusive claims across two real child
 * processes, recovery of a SIGKILLed claimer, corrupt files, ENOSPC.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { fixtures, tempDir } from './helpers/paths.js';
import { ioStats, openSpool, parseId, recoverStale } from '../src/spool/file-spool.js';
import { encodeHeader, parseHeader, encodeState, parseState } from '../src/spool/format.js';
import { idGenerator, idTime, isValidId } from '../src/spool/ids.js';
import { isSysmailError, EX } from '../src/core/errors.js';
import type { DeliveryState, Envelope } from '../src/spool/types.js';

const spoolModule = new URL('../src/spool/file-spool.js', import.meta.url).href;
const claimer = join(fixtures, 'spool', 'claimer.mjs');
const dirs: string[] = [];
const mkSpoolDir = () => { const d = tempDir('sysmail-spool-'); dirs.push(d); return join(d, 'spool'); };
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const env = (over: Partial<Envelope> = {}): Envelope => ({
  sender: 'root@host.example', recipients: ['a@example.net', 'b@example.net'], submittedAt: 1_700_000_000_000,
  uid: 0, user: 'root', via: 'sendmail', ...over,
});
const msg = (s = 'Subject: hi\n\nbody\n') => Buffer.from(s);

function lines(child: ChildProcess): AsyncIterator<string> {
  let buf = '';
  const queue: string[] = [];
  let wake: (() => void) | null = null;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) { queue.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
    wake?.();
  });
  return {
    async next() {
      while (queue.length === 0) {
        if (child.exitCode !== null || child.signalCode !== null) return { done: true, value: undefined };
        await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
      }
      return { done: false, value: queue.shift() as string };
    },
  };
}

describe('ids', () => {
  it('sort by time, stay unique within a millisecond, and round-trip the time', () => {
    let t = 1_700_000_000_000;
    const gen = idGenerator(() => t, () => 0.5, 4242);
    const a = gen(); const b = gen(); t += 1; const c = gen();
    assert.ok(isValidId(a) && isValidId(b) && isValidId(c));
    assert.ok(a < b && b < c);
    assert.equal(idTime(a), 1_700_000_000_000);
    assert.equal(idTime(c), 1_700_000_000_001);
    const other = idGenerator(() => 1_700_000_000_000, () => 0.5, 4243)();
    assert.notEqual(other, a);
  });

  it('refuse path tricks given on the command line', () => {
    for (const bad of ['', '..', '../etc/passwd', 'a/b', '01HZZZZZZZZZZZZZZZZZ/', '0'.repeat(20) + '.', 'u'.repeat(21), '0'.repeat(22)]) {
      assert.throws(() => parseId(bad), (e: unknown) => isSysmailError(e) && e.exit === EX.USAGE, bad);
    }
    const id = idGenerator(Date.now, Math.random)();
    assert.equal(parseId(id.toLowerCase()), id);
  });
});

describe('format', () => {
  it('round-trips every envelope field and detects any truncation', () => {
    const e = env({ sender: '', recipients: ['ü@exämple.net', 'x>y@example.net'], notify: 'SUCCESS,FAILURE', ret: 'hdrs', envid: 'Q 1', isBounce: true, user: 'nobody', uid: 65534 });
    const body = msg();
    const file = Buffer.concat([encodeHeader(e, body.length), body]);
    const r = parseHeader(file, true);
    assert.ok(r.ok);
    assert.deepEqual(r.envelope, e);
    assert.equal(r.headerLength + r.size, file.length);
    const header = encodeHeader(e, body.length);
    for (let cut = 0; cut < header.length; cut++) {
      const p = parseHeader(file.subarray(0, cut), true);
      assert.equal(p.ok, false, `header cut at ${cut} parsed`);
    }
  });

  it('refuses CR, LF and NUL in envelope values', () => {
    for (const bad of [env({ recipients: ['a@b\r\nrcpt <evil@x>'] }), env({ sender: 'a\u0000b' }), env({ user: 'x\ny' }), env({ envid: 'a\rb' }), env({ recipients: [] })]) {
      assert.throws(() => encodeHeader(bad, 1), (e: unknown) => isSysmailError(e) && !e.temporary);
    }
  });

  it('parses state strictly', () => {
    const s: DeliveryState = { attempts: 2, nextAttemptAt: 5, recipients: { 'a@b': { status: 'sent', code: 250 } } };
    const r = parseState(encodeState(s));
    assert.ok(r.ok);
    assert.deepEqual(r.state, s);
    assert.equal(parseState(Buffer.from('{"v":1,"attempts":"x"}')).ok, false);
    assert.equal(parseState(Buffer.from('{"v":1,"attempts":1,"nextAttemptAt":0,"recipients":{"a":{"status":"gone"}}}')).ok, false);
    assert.equal(parseState(Buffer.from('{trunc')).ok, false);
  });
});

describe('FileSpool', () => {
  it('creates the layout with safe modes', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    assert.deepEqual(await spool.list(), []); // readers never create
    assert.equal(existsSync(dir), false);
    await spool.submit(env(), msg());
    for (const a of ['tmp', 'queue', 'active', 'state', 'failed', 'corrupt']) assert.equal(statSync(join(dir, a)).mode & 0o7777, 0o700, a);
    assert.equal(statSync(join(dir, 'drop')).mode & 0o7777, 0o1777);
  });

  it('submit, list, get, claim, defer, hold, fail, remove round trip; the message file is never rewritten', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    const body = msg('Subject: round trip\n\n' + 'x'.repeat(5000) + '\n');
    const id = await spool.submit(env(), body);
    const file = join(dir, 'queue', id);
    const before = { st: statSync(file), bytes: readFileSync(file) };

    const [m] = await spool.list();
    assert.equal(m?.id, id);
    assert.equal(m?.size, body.length);
    assert.deepEqual(m?.envelope, env());
    assert.deepEqual(m?.state, { attempts: 0, nextAttemptAt: 0, recipients: { 'a@example.net': { status: 'pending' }, 'b@example.net': { status: 'pending' } } });
    assert.deepEqual(await spool.get(id), m);
    assert.equal(existsSync(join(dir, 'state', id)), false, 'no state before a deferral');

    const c = await spool.claim(id);
    assert.ok(c);
    assert.equal(await spool.claim(id), null, 'a second claim fails');
    assert.equal((await spool.list())[0]?.id, id, 'a claimed message is still listed');
    assert.deepEqual(await c.readMessage(), body);
    const st: DeliveryState = { attempts: 1, firstAttemptAt: 10, lastAttemptAt: 10, nextAttemptAt: 70, lastError: '451 try later',
      recipients: { 'a@example.net': { status: 'sent', code: 250 }, 'b@example.net': { status: 'deferred', code: 451, dsn: '4.3.0' } } };
    await c.defer(st);
    await assert.rejects(c.release(), /already let go/);
    assert.deepEqual((await spool.get(id))?.state, st);

    assert.equal(await spool.hold(id), true);
    assert.equal((await spool.get(id))?.state.held, true);
    assert.equal(await spool.unhold(id), true);
    assert.equal((await spool.get(id))?.state.held, undefined);
    assert.deepEqual((await spool.get(id))?.state, st);

    const c2 = await spool.claim(id);
    assert.deepEqual(c2?.state, st);
    await c2!.release();

    const after = { st: statSync(file), bytes: readFileSync(file) };
    assert.equal(after.st.ino, before.st.ino);
    assert.equal(after.st.mtimeMs, before.st.mtimeMs);
    assert.deepEqual(after.bytes, before.bytes);

    const c3 = await spool.claim(id);
    const failed: DeliveryState = { ...st, recipients: { ...st.recipients, 'b@example.net': { status: 'failed', code: 550 } } };
    await c3!.fail(failed);
    assert.deepEqual(await spool.list(), []);
    const [f] = await spool.list('failed');
    assert.equal(f?.id, id);
    assert.equal(f?.area, 'failed');
    assert.deepEqual(f?.state, failed);
    assert.equal(existsSync(join(dir, 'state', id)), false);
    assert.equal(await spool.hold(id), false, 'failed messages are not held');
    assert.equal(await spool.remove(id), true);
    assert.deepEqual(await spool.list('failed'), []);
    assert.equal(await spool.remove(id), false);
    assert.equal(await spool.get(id), null);
    assert.deepEqual(readdirSync(join(dir, 'failed')), []);
  });

  it('remove deletes a queued message and its state', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    const id = await spool.submit(env(), msg());
    await spool.hold(id);
    assert.equal(await spool.remove(id), true);
    assert.deepEqual(await spool.list(), []);
    assert.deepEqual(readdirSync(join(dir, 'state')), []);
  });

  it('a first-attempt success writes the message file and nothing else', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    await spool.prepare();
    const body = msg('Subject: count\n\n' + 'y'.repeat(12345) + '\n');
    const e = env();
    const before = { ...ioStats };
    const id = await spool.submit(e, body);
    const c = await spool.claim(id);
    await c!.readMessage();
    await c!.complete();
    const header = encodeHeader(e, body.length);
    assert.equal(ioStats.bytesWritten - before.bytesWritten, header.length + body.length);
    assert.equal(ioStats.filesCreated - before.filesCreated, 1);
    assert.equal(ioStats.fsyncs - before.fsyncs, 2, 'the message file and queue/');
    for (const a of ['tmp', 'queue', 'active', 'state', 'failed', 'corrupt']) assert.deepEqual(readdirSync(join(dir, a)), [], a);
  });

  it('ram mode uses the same files without fsync', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir, mode: 'ram' });
    const before = ioStats.fsyncs;
    const id = await spool.submit(env(), msg());
    const c = await spool.claim(id);
    await c!.defer({ attempts: 1, nextAttemptAt: 1, recipients: {} });
    assert.equal(ioStats.fsyncs, before);
    assert.equal((await spool.get(id))?.state.attempts, 1);
  });

  it('refuses an over-size message and a bad envelope, leaving nothing behind', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir, maxMessageSize: 100 });
    await assert.rejects(spool.submit(env(), Buffer.alloc(101)), (e: unknown) => isSysmailError(e) && e.exit === EX.DATAERR && e.smtpCode === 552);
    await assert.rejects(spool.submit(env({ recipients: ['a@b\nrcpt <c@d>'] }), msg()), (e: unknown) => isSysmailError(e) && e.exit === EX.DATAERR);
    for (const a of ['tmp', 'queue']) assert.deepEqual(existsSync(join(dir, a)) ? readdirSync(join(dir, a)) : [], [], a);
  });

  it('concurrent claims from two processes take each of 50 messages exactly once', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add(await spool.submit(env(), msg(`Subject: ${i}\n\n${i}\n`)));
    // One walks the queue forwards, the other backwards: they collide wherever they meet.
    const kids = ['race', 'race-reverse'].map((mode) => spawn(process.execPath, [claimer, spoolModule, dir, mode], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const its = kids.map(lines);
    for (const it of its) assert.equal((await it.next()).value, 'ready');
    for (const k of kids) k.stdin!.write('go\n');
    const results = await Promise.all(its.map(async (it) => JSON.parse((await it.next()).value as string) as string[]));
    // Both held every claim they got until now: an overlap would show a claim taken twice.
    for (const k of kids) k.stdin!.end('done\n');
    await Promise.all(kids.map((k) => (k.exitCode === null ? once(k, 'exit') : null)));
    const all = [...results[0]!, ...results[1]!];
    assert.equal(all.length, 50, `claimed ${results[0]!.length} + ${results[1]!.length}`);
    assert.deepEqual(new Set(all), ids);
    assert.deepEqual(await spool.list(), []);
  });

  it('recovers the claim of a SIGKILLed process, and only then', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    const id = await spool.submit(env(), msg());
    const kid = spawn(process.execPath, [claimer, spoolModule, dir, 'hold', id], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      assert.equal((await lines(kid).next()).value, 'claimed');
      assert.equal(await spool.claim(id), null);
      let r = await recoverStale(dir);
      assert.deepEqual(r.recovered, [], 'a live owner keeps its claim');
      assert.equal((await spool.list())[0]?.id, id);
      await assert.rejects(spool.hold(id), (e: unknown) => isSysmailError(e) && e.code === 'EDELIVERING' && e.temporary);
    } finally {
      kid.kill('SIGKILL');
      if (kid.exitCode === null && kid.signalCode === null) await once(kid, 'exit');
    }
    assert.equal(readdirSync(join(dir, 'active')).length, 1);
    const r = await recoverStale(dir);
    assert.deepEqual(r.recovered, [id]);
    assert.deepEqual(await recoverStale(dir).then((x) => x.recovered), [], 'a second recoverer finds nothing');
    const c = await spool.claim(id);
    assert.ok(c);
    assert.deepEqual(await c.readMessage(), msg());
    await c.complete();
  });

  it('reports corrupt messages and state without moving them; recovery moves them to corrupt/', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    const good = await spool.submit(env(), msg());
    const badState = await spool.submit(env(), msg());
    const truncated = await spool.submit(env(), msg('Subject: t\n\n' + 'z'.repeat(1000)));
    const gen = idGenerator(Date.now, Math.random);
    const garbage = gen();
    writeFileSync(join(dir, 'queue', garbage), 'this is not a queue file\n');
    writeFileSync(join(dir, 'state', badState), '{"v":1,"attempts":');
    const tf = join(dir, 'queue', truncated);
    writeFileSync(tf, readFileSync(tf).subarray(0, 500));
    writeFileSync(join(dir, 'queue', 'not-an-id'), 'stray');

    const listed = await spool.list();
    const by = new Map(listed.map((m) => [m.id, m]));
    assert.equal(by.get(good)?.corrupt, undefined);
    assert.match(by.get(badState)?.corrupt ?? '', /^state: state is not JSON/);
    assert.match(by.get(garbage)?.corrupt ?? '', /^message: not a sysmail queue file/);
    assert.match(by.get(truncated)?.corrupt ?? '', /^message: truncated/);
    assert.ok(existsSync(join(dir, 'queue', garbage)) && existsSync(join(dir, 'state', badState)), 'list() moved nothing');

    const r = await recoverStale(openSpool({ dir }));
    const moved = new Map(r.corrupt.map((c) => [c.id, c.reason]));
    assert.match(moved.get(garbage) ?? '', /not a sysmail queue file/);
    assert.match(moved.get(truncated) ?? '', /truncated/);
    assert.match(moved.get(badState) ?? '', /fresh state/);
    assert.ok(moved.has('queue-not-an-id'));
    const corrupt = readdirSync(join(dir, 'corrupt')).sort();
    for (const n of [garbage, `${garbage}.reason`, truncated, `${badState}.state`, `${badState}.state.reason`]) assert.ok(corrupt.includes(n), n);
    assert.match(JSON.parse(readFileSync(join(dir, 'corrupt', `${garbage}.reason`), 'utf8')).reason, /not a sysmail queue file/);

    const now = await spool.list();
    assert.deepEqual(now.map((m) => m.id).sort(), [good, badState].sort());
    assert.ok(now.every((m) => m.corrupt === undefined));
    assert.equal(now.find((m) => m.id === badState)?.state.attempts, 0);
    const listedCorrupt = await spool.listCorrupt();
    assert.ok(listedCorrupt.some((c) => c.name === garbage && /not a sysmail/.test(c.reason) && c.from === `queue/${garbage}`));
  });

  it('a runner claim on a corrupt message moves it aside and returns null', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    await spool.prepare();
    const id = idGenerator(Date.now, Math.random)();
    writeFileSync(join(dir, 'queue', id), 'SYSMAIL 1\nsender <a@b>\n');
    assert.equal(await spool.claim(id), null);
    assert.ok(existsSync(join(dir, 'corrupt', id)));
    assert.deepEqual(await spool.list(), []);
  });

  it('removes orphan state files only when old', async () => {
    const dir = mkSpoolDir();
    const spool = openSpool({ dir });
    await spool.prepare();
    const gen = idGenerator(Date.now, Math.random);
    const young = gen(); const old = gen();
    for (const id of [young, old]) writeFileSync(join(dir, 'state', id), encodeState({ attempts: 1, nextAttemptAt: 0, recipients: {} }));
    const t = (Date.now() - 2 * 3600_000) / 1000;
    utimesSync(join(dir, 'state', old), t, t);
    const r = await recoverStale(dir);
    assert.deepEqual(r.orphansRemoved, [old]);
    assert.deepEqual(readdirSync(join(dir, 'state')), [young]);
  });

  it('ENOSPC: a clear temporary error and no partial file', async (t) => {
    const mnt = tempDir('sysmail-enospc-');
    dirs.push(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', mnt]);
    t.after(() => execFileSync('umount', [mnt]));
    const dir = join(mnt, 'spool');
    mkdirSync(dir);
    const spool = openSpool({ dir });
    await assert.rejects(spool.submit(env(), Buffer.alloc(512 * 1024, 0x61)), (e: unknown) =>
      isSysmailError(e) && e.exit === EX.TEMPFAIL && e.temporary && /ENOSPC/.test(e.message) && /full/.test(e.hint ?? ''));
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    assert.deepEqual(readdirSync(join(dir, 'queue')), []);
    const id = await spool.submit(env(), msg());
    assert.equal((await spool.list())[0]?.id, id, 'works again once there is room');
  });
});
