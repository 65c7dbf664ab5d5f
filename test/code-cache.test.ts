/**
 * The launcher's code cache (scripts/launcher.cjs, src/cli/cache.ts, src/doctor/code-cache.ts):
 * a cache V8 refuses (made with other V8 flags) is noticed, reported by doctor with the fix,
 * and replaced on first use; mail goes through in every state. Runs a private copy of dist/ so
 * the real build's cache is never touched, and points the cache directory at a temp dir.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runProcess } from './helpers/cli.js';
import { repoRoot, tempDir } from './helpers/paths.js';

interface Check { check: string; status: string; detail: string; fix: string | null }

function setup() {
  const dir = tempDir('sysmail-cache-');
  chmodSync(dir, 0o755);
  const dist = join(dir, 'dist');
  mkdirSync(dist, { mode: 0o755 });
  for (const f of ['sysmail.js', 'sysmail-main.cjs', 'sysmail-sendmail.cjs', 'package.json']) copyFileSync(join(repoRoot, 'dist', f), join(dist, f));
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o755 });
  const config = join(dir, 'sysmail.toml');
  writeFileSync(config, `[general]\nhostname = "host.example.org"\naliases = false\n[spool]\ndir = "${join(dir, 'spool')}"\n`
    + `[log]\nfile = false\nsyslog = false\n[transports.box]\ntype = "maildir"\npath = "${join(dir, 'Maildir')}"\n`, { mode: 0o600 });
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', SYSMAIL_CODE_CACHE_DIR: cache };
  const run = (args: string[], flags: string[] = [], input = '') => runProcess(process.execPath, [...flags, join(dist, 'sysmail.js'), ...args], { env, input, timeoutMs: 60_000 });
  type Bundle = { status: string; file: string | null };
  const status = async (flags: string[] = []) => (JSON.parse((await run(['cache', 'status', '--json'], flags)).stdout) as { bundles: { main: Bundle; sendmail: Bundle } }).bundles;
  const doctor = async () => {
    const r = await run(['doctor', '--offline', '--json', '-C', config]);
    const all = JSON.parse(r.stdout) as Check[];
    return { main: all.find((c) => c.check === 'code cache main')!, sendmail: all.find((c) => c.check === 'code cache sendmail')! };
  };
  // A command of the full CLI that is not a reader (doctor and cache status never write a cache).
  const useMain = () => run(['config', 'check', '-C', config]);
  const send = () => run(['sendmail', '-C', config, '-odq', 'root@example.org'], [], 'Subject: hi\n\nbody\n');
  const queued = () => readdirSync(join(dir, 'spool', 'queue')).filter((n) => !n.startsWith('.')).length;
  return { dir, cache, run, status, doctor, send, queued, useMain, main: join(cache, 'sysmail-main.v8cache'), file: join(cache, 'sysmail-sendmail.v8cache') };
}

test('a cache made with other V8 flags is rejected, reported by doctor, and replaced on first use', async () => {
  const h = setup();
  const made = await h.run(['cache', 'rebuild'], ['--stack-size=2000']);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /code cache rebuilt: .*sysmail-main\.v8cache, .*sysmail-sendmail\.v8cache/);
  const flagged = await h.status(['--stack-size=2000']);
  assert.deepEqual([flagged.main.status, flagged.sendmail.status], ['used', 'used']);
  const before = readFileSync(h.file);
  const beforeMain = readFileSync(h.main);

  const d = await h.doctor();
  for (const c of [d.main, d.sendmail]) {
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /rejected by V8/);
    assert.match(c.fix!, /^sysmail cache rebuild/);
  }
  assert.deepEqual(readFileSync(h.file), before, 'doctor only reads');
  assert.deepEqual(readFileSync(h.main), beforeMain, 'doctor only reads');

  // sendmail takes the fast path: it replaces that bundle's cache; the full CLI replaces its own.
  const sent = await h.send();
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(h.queued(), 1);
  assert.notDeepEqual(readFileSync(h.file), before, 'sendmail replaced the rejected cache');
  assert.equal((await h.useMain()).code, 0);
  assert.notDeepEqual(readFileSync(h.main), beforeMain, 'the full CLI replaced its rejected cache');
  const now = await h.status();
  assert.deepEqual([now.main.status, now.main.file, now.sendmail.status, now.sendmail.file], ['used', h.main, 'used', h.file]);
  const after = await h.doctor();
  assert.deepEqual([after.main.status, after.sendmail.status], ['ok', 'ok']);
});

test('a missing cache is made on first use; a stale or untrusted one is ignored and mail still goes', async () => {
  const h = setup();
  assert.equal((await h.status()).sendmail.status, 'missing');
  assert.equal((await h.doctor()).sendmail.status, 'warn');
  assert.equal((await h.send()).code, 0);
  assert.equal((await h.status()).sendmail.status, 'used');

  const good = readFileSync(h.file);
  const nl = good.indexOf(10);
  writeFileSync(h.file, Buffer.concat([Buffer.from('0123:v0.0.0:x64'), good.subarray(nl)]));
  const stale = (await h.doctor()).sendmail;
  assert.match(stale.detail, /another build, Node version or CPU/);
  assert.equal((await h.send()).code, 0);
  assert.equal((await h.status()).sendmail.status, 'used');

  chmodSync(h.file, 0o666);
  const u = (await h.doctor()).sendmail;
  assert.equal(u.status, 'warn');
  assert.match(u.detail, /others may write it/);
  assert.equal((await h.send()).code, 0);
  assert.equal(h.queued(), 3);
});

test('cache rebuild names the problem when it has no place to write', async () => {
  const h = setup();
  const r = await h.run(['cache', 'rebuild', '--dir', join(h.dir, 'sysmail.toml', 'x')]);
  assert.equal(r.code, 73, r.stderr);
  assert.match(r.stderr, /no place to write the code cache/);
  assert.match(r.stderr, /fix: /);
});
