/**
 * The compiled-config cache of the sendmail fast path (config/compiled-cache.ts), through the
 * built CLI as cron runs it: an entry is stored once the config has settled and then used; any
 * change of the file, of a variable the validator reads or of a path it asked about is a miss
 * (the new config is used, never the stored one); a broken config is never stored; an entry
 * others may write is ignored; no password lands in it; doctor and `cache status` report it.
 * Whether the entry was used is seen by altering its stored host name (X-Sysmail-Host).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CACHE_FORMAT, entryFile, jsonExact, MAX_ENTRIES, mismatch, readEntry, recordingContext, SETTLE_MS, writeEntry } from '../src/config/compiled-cache.js';
import { runProcess } from './helpers/cli.js';
import { cliPath, tempDir } from './helpers/paths.js';

const SETTLE_WAIT_MS = 1200; // compiled-cache.ts SETTLE_MS (1000) and a margin
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup() {
  const dir = tempDir('sysmail-cfgcache-');
  chmodSync(dir, 0o755);
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o755 });
  const config = join(dir, 'sysmail.toml');
  const spool = join(dir, 'spool');
  const write = (host: string, extra = '') => writeFileSync(config, `[general]\nhostname = "${host}"\ndomain = "example.org"\naliases = false\n`
    + `[spool]\ndir = "${spool}"\n[log]\nfile = false\nsyslog = false\n[transports.box]\ntype = "maildir"\npath = "${join(dir, 'Maildir')}"\n${extra}`, { mode: 0o600 });
  const baseEnv = { PATH: process.env.PATH, HOME: dir, LANG: 'C.UTF-8', SYSMAIL_CODE_CACHE_DIR: cache };
  const run = (args: string[], env: NodeJS.ProcessEnv = {}, input = '') => runProcess(process.execPath, [cliPath, ...args], { env: { ...baseEnv, ...env }, input, timeoutMs: 30_000 });
  /** Queues one message with -odq; returns its X-Sysmail-Host and where it was queued. */
  const send = async (env: NodeJS.ProcessEnv = {}, spoolDir = spool) => {
    const r = await run(['sendmail', '-C', config, '-odq', 'root@example.org'], env, 'Subject: t\n\nbody\n');
    assert.equal(r.code, 0, r.stderr);
    const q = join(spoolDir, 'queue');
    const names = readdirSync(q).filter((n) => !n.startsWith('.'));
    assert.equal(names.length, 1, `one message in ${q}`);
    const text = readFileSync(join(q, names[0]!), 'utf8');
    rmSync(join(q, names[0]!));
    return /^X-Sysmail-Host: (.*)$/m.exec(text)?.[1];
  };
  type Entry = { exists: Record<string, boolean>; env: Record<string, string | null>; config: { general: { hostname: string } } };
  const entries = () => readdirSync(cache).filter((n) => n.startsWith('config-'));
  const entry = () => join(cache, entries()[0]!);
  /** Changes the stored host name, so that a message made from the entry says so. */
  const read = () => JSON.parse(readFileSync(entry(), 'utf8')) as Entry;
  const mark = (e: Entry = read()) => {
    e.config.general.hostname = 'from-the-cache.example.org';
    writeFileSync(entry(), JSON.stringify(e));
  };
  const status = async () => {
    const r = await run(['cache', 'status', '--json'], { SYSMAIL_CONFIG: config });
    return (JSON.parse(r.stdout) as { config: { status: string; detail: string } }).config;
  };
  return { dir, cache, config, spool, write, run, send, entries, entry, read, mark, status };
}

test('an entry is stored once the config has settled, then used; doctor and cache status report it', async () => {
  const h = setup();
  h.write('one.example.org');
  const changed = statSync(h.config).ctimeMs;
  assert.equal(await h.send(), 'one.example.org');
  // (Only when that sendmail ended within the second: on a very slow machine it may not have.)
  if (Date.now() - changed < SETTLE_MS) assert.deepEqual(h.entries(), [], 'a config changed less than a second ago is not stored');

  await sleep(SETTLE_WAIT_MS);
  for (const n of h.entries()) rmSync(join(h.cache, n)); // whatever a slow first run stored
  assert.match((await h.status()).detail, /missing/);
  assert.equal(await h.send(), 'one.example.org');
  assert.equal(h.entries().length, 1);
  assert.equal(statSync(h.entry()).mode & 0o777, 0o600);
  const st = await h.status();
  assert.deepEqual([st.status, /fits/.test(st.detail)], ['ok', true], st.detail);

  h.mark();
  assert.equal(await h.send(), 'from-the-cache.example.org', 'the stored config is used');
  const doc = await h.run(['doctor', '--offline', '--json', '-C', h.config]);
  const line = (JSON.parse(doc.stdout) as { check: string; status: string; detail: string }[]).find((c) => c.check === 'config cache');
  assert.equal(line?.status, 'ok', line?.detail);
});

test('a changed config file, environment or path asked about is never answered from the stored entry', async () => {
  const h = setup();
  h.write('aaaa.example.org');
  await sleep(SETTLE_WAIT_MS);
  assert.equal(await h.send(), 'aaaa.example.org');
  h.mark();
  assert.equal(await h.send(), 'from-the-cache.example.org');

  // Rewritten in place, same size, within the same second: ctime (and mtime) differ.
  h.write('bbbb.example.org');
  assert.match((await h.status()).detail, /stale: the config file changed/);
  assert.equal(await h.send(), 'bbbb.example.org', 'the new file, not the entry');

  // A variable the validator reads ($SYSMAIL_SPOOL): the message goes where it now says.
  await sleep(SETTLE_WAIT_MS);
  assert.equal(await h.send(), 'bbbb.example.org'); // stored again
  h.mark();
  const other = join(h.dir, 'other-spool');
  assert.equal(await h.send({ SYSMAIL_SPOOL: other }, other), 'bbbb.example.org');
  // ... and the entry now stored is for that environment: without it, again a miss.
  h.mark();
  assert.equal(await h.send(), 'bbbb.example.org');

  // A path the validator asked about (node_exporter's textfile directory, for the metrics default):
  // the entry altered as if it had existed (or not) when stored.
  const e = h.read();
  assert.ok(Object.keys(e.exists).length > 0, 'the existence checks are recorded');
  assert.ok('SYSMAIL_SPOOL' in e.env && 'SYSMAIL_STATE_DIR' in e.env, 'the variables read are recorded');
  const asked = Object.keys(e.exists)[0]!;
  e.exists[asked] = !e.exists[asked];
  h.mark(e);
  assert.match((await h.status()).detail, /stale: .* (is gone|appeared)/);
  assert.equal(await h.send(), 'bbbb.example.org', 'a path whose existence changed is a miss');
});

test('a broken config is never stored; an entry others may write is ignored; no password is stored', async () => {
  const h = setup();
  writeFileSync(h.config, '[general\nhostname = "x"\n', { mode: 0o600 });
  await sleep(SETTLE_WAIT_MS);
  for (let i = 0; i < 2; i++) {
    const r = await h.run(['sendmail', '-C', h.config, '-odq', 'root@example.org'], {}, 'Subject: t\n\nbody\n');
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /TOML syntax error/);
  }
  assert.deepEqual(h.entries(), []);

  h.write('pw.example.org', '[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nusername = "u"\npassword = "s3cr3t-inline"\n[[routes]]\ntransport = "box"\n');
  await sleep(SETTLE_WAIT_MS);
  assert.equal(await h.send(), 'pw.example.org');
  assert.equal(h.entries().length, 1);
  const stored = readFileSync(h.entry(), 'utf8');
  assert.doesNotMatch(stored, /s3cr3t|relay|password/, 'only general, spool and log are stored');

  h.mark();
  chmodSync(h.entry(), 0o666);
  assert.match((await h.status()).detail, /untrusted/);
  assert.equal(await h.send(), 'pw.example.org', 'an entry others may write is not used');
  assert.equal(statSync(h.entry()).mode & 0o777, 0o600, 'and it was replaced by a private one');
});

test('compiled-cache.ts: the settle rule, the bound on entries, what JSON keeps, and recording what the validator reads', () => {
  const dir = tempDir('sysmail-cfgcache-unit-');
  chmodSync(dir, 0o755);
  const euid = process.geteuid?.() ?? 0;
  const opts = { dir, build: 'b:v20:x64' };
  const config = { source: null, general: { hostname: 'h', domain: 'd', admin: 'root', localDomains: ['d'], aliases: null, maxMessageSize: 1, tagHost: true },
    spool: { dir: '/s', mode: 'disk' as const, maxLifetime: 1, retryMin: 1, retryMax: 1 }, log: { file: null, syslog: false } };
  const entry = (file: string) => ({ v: CACHE_FORMAT, key: { build: opts.build, file, stat: '1:2:3:4:5:0:33188', euid, hostname: 'h', homedir: '/root' }, env: { X: null }, exists: {}, config });
  const now = 1_000_000;
  assert.equal(writeEntry(opts, entry('/a.toml'), now - SETTLE_MS, now), null, 'changed within the settle time: not stored');
  const file = writeEntry(opts, entry('/a.toml'), now - SETTLE_MS - 1, now);
  assert.equal(file, entryFile(dir, '/a.toml', euid, opts.build));
  assert.notEqual(entryFile(dir, '/a.toml', euid, 'another build'), file, 'one entry per build');
  const key = entry('/a.toml').key;
  assert.deepEqual(readEntry(opts, key, {}, () => false), { config });
  assert.deepEqual(readEntry(opts, { ...key, stat: '1:2:3:4:6:0:33188' }, {}, () => false), { miss: 'stale: the config file changed', file });
  assert.deepEqual(readEntry(opts, { ...key, build: 'other' }, {}, () => false), { miss: 'missing', file: entryFile(dir, '/a.toml', euid, 'other') });
  assert.equal(mismatch(entry('/a.toml'), { ...key, build: 'other' }, {}, () => false), 'another build');
  assert.deepEqual(readEntry(opts, key, { X: 'set' }, () => false), { miss: 'stale: $X changed', file });
  assert.equal(mismatch({ ...entry('/a.toml'), exists: { '/p': false } }, key, {}, () => true), '/p appeared');

  assert.equal(writeEntry(opts, { ...entry('/inf.toml'), config: { ...config, spool: { ...config.spool, maxLifetime: Infinity } } }, null, now), null, 'Infinity would read back as null');
  assert.equal(jsonExact({ a: [1, 'x', null, true] }), true);
  assert.equal(jsonExact({ a: undefined }), false);
  assert.equal(jsonExact(new Date()), false);

  for (let i = 0; i < MAX_ENTRIES + 5; i++) writeEntry(opts, entry(`/c${i}.toml`), null, now);
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('config-')).length, MAX_ENTRIES);

  const r = recordingContext({ env: { A: '1' }, exists: (p) => p === '/yes' });
  assert.equal(r.ctx.env!.A, '1');
  assert.equal(r.ctx.env!.B, undefined);
  assert.equal(r.ctx.exists!('/yes'), true);
  assert.equal(r.ctx.exists!('/no'), false);
  assert.deepEqual([r.env, r.exists, r.enumerated()], [{ A: '1', B: null }, { '/yes': true, '/no': false }, false]);
  void { ...r.ctx.env };
  assert.equal(r.enumerated(), true, 'a validator that lists the environment depends on all of it: not cached');
});
