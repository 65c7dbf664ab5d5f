/**
 * The blocking shells of the sendmail fast path against the asynchronous ones they mirror:
 * loadConfigSync (config/load-sync.ts) and loadConfig give the same config or the same error for
 * every fixture; submitSync (spool/commit-sync.ts) writes what FileSpool.submit writes, with the
 * same writes and fsyncs, makes the layout only when it is missing, and fails the same ways.
 * And the built fast path itself loads neither node:fs/promises nor node:child_process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cliPath, fixtures, tempDir } from './helpers/paths.js';
import { loadConfig } from '../src/config/load.js';
import { loadConfigSync } from '../src/config/load-sync.js';
import { submitSync } from '../src/spool/commit-sync.js';
import { ioStats, openSpool } from '../src/spool/file-spool.js';
import { isSysmailError } from '../src/core/errors.js';
import type { Envelope } from '../src/spool/types.js';

const settle = <T>(f: () => T): { ok: true; v: T } | { ok: false; e: unknown } => { try { return { ok: true, v: f() }; } catch (e) { return { ok: false, e }; } };
const errView = (e: unknown) => (isSysmailError(e) ? { code: e.code, exit: e.exit, message: e.message, hint: e.hint } : String(e));

test('loadConfigSync: the same config or the same error as loadConfig, for every fixture and for no file', async () => {
  const env = { SYSMAIL_STATE_DIR: '/nonexistent-state' };
  const files = [join(fixtures, 'config', 'good', 'full.toml'),
    ...readdirSync(join(fixtures, 'config', 'bad')).filter((n) => n.endsWith('.toml')).map((n) => join(fixtures, 'config', 'bad', n)),
    '/nonexistent/sysmail.toml', fixtures];
  let errors = 0;
  for (const path of [...files, null]) {
    const opts = { path, env, systemPath: '/nonexistent' };
    const a = await loadConfig(opts).then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }));
    const s = settle(() => loadConfigSync(opts));
    assert.equal(s.ok, a.ok, `${path}: one shell failed, the other did not`);
    if (a.ok && s.ok) assert.deepEqual(s.v, a.v, String(path));
    if (!a.ok && !s.ok) { errors++; assert.deepEqual(errView(s.e), errView(a.e), String(path)); }
  }
  assert.equal(errors, files.length - 1, 'every bad fixture, the missing file and the directory failed in both');
});

const envelope: Envelope = { sender: 'root@example.com', recipients: ['a@example.com'], submittedAt: 1_700_000_000_000, uid: 0, user: 'root', via: 'sendmail' };

test('submitSync writes the file FileSpool.submit writes, with the same writes and fsyncs, and makes a missing layout', async () => {
  const dir = tempDir('sysmail-sync-');
  try {
    const body = Buffer.from('Subject: x\r\n\r\nbody\r\n');
    const asyncDir = join(dir, 'async');
    const syncDir = join(dir, 'sync');
    const fixed = { now: () => 1_700_000_000_000, random: () => 0.25 };
    let before = { ...ioStats };
    const idA = await openSpool({ dir: asyncDir, ...fixed }).submit(envelope, body);
    const costA = Object.fromEntries(Object.entries(ioStats).map(([k, v]) => [k, v - before[k as keyof typeof ioStats]]));
    before = { ...ioStats };
    const idS = submitSync({ dir: syncDir, ...fixed }, envelope, body);
    const costS = Object.fromEntries(Object.entries(ioStats).map(([k, v]) => [k, v - before[k as keyof typeof ioStats]]));
    assert.equal(idS, idA, 'the same id from the same clock and randomness');
    assert.deepEqual(readFileSync(join(syncDir, 'queue', idS)), readFileSync(join(asyncDir, 'queue', idA)));
    assert.deepEqual(costS, costA);
    assert.equal(costS.fsyncs, 2, 'the file and queue/');
    for (const area of ['tmp', 'queue', 'active', 'state', 'failed', 'corrupt', 'drop']) {
      assert.equal(statSync(join(syncDir, area)).mode & 0o7777, statSync(join(asyncDir, area)).mode & 0o7777, area);
    }
    assert.deepEqual(readdirSync(join(syncDir, 'tmp')), [], 'no temp file left');
    // The second message finds the layout: no mkdir, one file more.
    submitSync({ dir: syncDir }, envelope, body);
    assert.equal(readdirSync(join(syncDir, 'queue')).length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('submitSync fails as FileSpool.submit does: too big, a bad envelope, a spool it cannot write', async () => {
  const dir = tempDir('sysmail-sync-');
  try {
    const cases: [string, Envelope, Buffer, object][] = [
      ['too big', envelope, Buffer.alloc(101), { maxMessageSize: 100 }],
      ['control character', { ...envelope, recipients: ['a@example.com\r\nRCPT TO:<b@x>'] }, Buffer.from('x'), {}],
      ['no recipients', { ...envelope, recipients: [] }, Buffer.from('x'), {}],
    ];
    for (const [what, env, msg, extra] of cases) {
      const a = await openSpool({ dir: join(dir, 'a'), ...extra }).submit(env, msg).then(() => null, (e: unknown) => e);
      const s = settle(() => submitSync({ dir: join(dir, 's'), ...extra }, env, msg));
      assert.ok(a !== null && !s.ok, what);
      assert.deepEqual(errView((s as { e: unknown }).e), errView(a), what);
    }
    // queue/ is a file: the write fails with ENOTDIR, an I/O failure (EX_TEMPFAIL), nothing left behind.
    const broken = join(dir, 'broken');
    mkdirSync(join(broken, 'tmp'), { recursive: true });
    writeFileSync(join(broken, 'queue'), '');
    const s = settle(() => submitSync({ dir: broken }, envelope, Buffer.from('x')));
    assert.ok(!s.ok && isSysmailError(s.e) && s.e.exit === 75, 'EX_TEMPFAIL');
    assert.deepEqual(readdirSync(join(broken, 'tmp')), [], 'the temp file was removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built fast path queues a message without node:fs/promises, and without node:child_process when serve runs', () => {
  const dir = tempDir('sysmail-sync-');
  try {
    chmodSync(dir, 0o755);
    const spool = join(dir, 'spool');
    const config = join(dir, 'sysmail.toml');
    writeFileSync(config, `[general]\nhostname = "h.example.com"\naliases = false\n[spool]\ndir = "${spool}"\n[log]\nfile = "${join(dir, 'log')}"\n`
      + `[transports.box]\ntype = "maildir"\npath = "${join(dir, 'Maildir')}"\n`, { mode: 0o600 });
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(join(dir, 'loaded.json'))}, JSON.stringify({
      modules: process.moduleLoadList, bundles: Object.keys(globalThis.__sysmail_codeCache?.bundles ?? {}) })));\n`);
    // A live serve as far as sendmail can tell: our own pid in serve.pid.
    mkdirSync(spool, { recursive: true });
    writeFileSync(join(spool, 'serve.pid'), `${process.pid}\n`);
    const r = spawnSync(process.execPath, ['-r', probe, cliPath, 'sendmail', '-C', config, '-t'],
      { input: 'To: a@example.com\nSubject: hi\n\nbody\n', encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
    assert.equal(r.status, 0, r.stderr);
    const { modules, bundles } = JSON.parse(readFileSync(join(dir, 'loaded.json'), 'utf8')) as { modules: string[]; bundles: string[] };
    assert.deepEqual(bundles, ['sendmail'], 'the fast path ran, the full CLI was not loaded');
    assert.deepEqual(modules.filter((m) => /fs\/promises|child_process/.test(m)), []);
    // node:os and its first getpwuid cost ~0.3 ms: the host's name and the user's come from files.
    assert.deepEqual(modules.filter((m) => m === 'NativeModule os'), []);
    assert.equal(readdirSync(join(spool, 'queue')).length, 1);
    assert.match(readFileSync(join(dir, 'log'), 'utf8'), /"event":"accepted"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built fast path exits at once, but waits for its syslog hand-off to logger(1)', () => {
  const dir = tempDir('sysmail-sync-');
  try {
    chmodSync(dir, 0o755);
    const spool = join(dir, 'spool');
    const config = join(dir, 'sysmail.toml');
    const got = join(dir, 'syslog.txt');
    // A logger(1) that is slow to take its input: an exit that did not wait would lose the line.
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'logger'), `#!/bin/sh\nsleep 0.3\ncat > ${JSON.stringify(got)}.part && mv ${JSON.stringify(got)}.part ${JSON.stringify(got)}\n`, { mode: 0o755 });
    writeFileSync(config, `[general]\nhostname = "h.example.com"\naliases = false\n[spool]\ndir = "${spool}"\n[log]\nfile = "${join(dir, 'log')}"\nsyslog = true\n`
      + `[transports.box]\ntype = "maildir"\npath = "${join(dir, 'Maildir')}"\n`, { mode: 0o600 });
    const r = spawnSync(process.execPath, [cliPath, 'sendmail', '-C', config, '-odq', '-t'],
      { input: 'To: a@example.com\nSubject: hi\n\nbody\n', encoding: 'utf8', env: { PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readdirSync(join(spool, 'queue')).length, 1);
    assert.match(readFileSync(join(dir, 'log'), 'utf8'), /"event":"accepted"/);
    assert.match(readFileSync(got, 'utf8'), /"event":"accepted"/, 'logger(1) got the line before sendmail exited');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built fast bundle parses no Unicode-property regular expression when it loads', () => {
  // A /u class with \p{…} costs ~0.2 ms to parse when its literal is evaluated: on the sendmail
  // path such rules are made when first needed (message/address.ts unicode()), not at load time.
  const bundle = readFileSync(join(dirname(cliPath), 'sysmail-sendmail.cjs'), 'utf8');
  const topLevel = bundle.split('\n').filter((l) => /^(var|let|const) /.test(l));
  assert.ok(topLevel.length > 50, 'the bundle has top-level declarations to look at');
  assert.deepEqual(topLevel.filter((l) => l.includes('\\p{')), []);
});
