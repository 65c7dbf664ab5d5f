/**
 * smtp-compat.ts: local clients of the listener get Postfix's treatment (bare
 * local names accepted and qualified, no greeting pause); relaying peers do
 * not; and a smtp-server that no longer has what the patch relies on fails
 * loudly. Real listener on 127.0.0.1 port 0, real spool in a temp dir.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../src/config/types.js';
import { memoryLogger } from '../src/log/logger.js';
import { openSpool } from '../src/spool/file-spool.js';
import { startListener } from '../src/server/listener.js';
import { checkFingerprints, FINGERPRINTS, installSmtpCompat, reparseBare, SERVER_FINGERPRINTS } from '../src/server/smtp-compat.js';
import { tempDir } from './helpers/paths.js';

const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

function config(): Config {
  const dir = tempDir('sysmail-compat-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return {
    source: null,
    general: { hostname: 'web1.test.example', domain: 'test.example', admin: 'root', localDomains: ['web1.test.example', 'test.example', 'localhost'],
      aliases: null, maxMessageSize: 1024 * 1024, tagHost: false },
    spool: { dir: join(dir, 'spool'), mode: 'disk', maxLifetime: 86_400_000, retryMin: 60_000, retryMax: 240_000 },
    log: { file: null, syslog: false },
    listener: { listen: ['127.0.0.1:0'], allowRelayFrom: [], tlsCert: null, tlsKey: null, users: {}, earlyDelivery: true },
    metrics: { file: null, minInterval: 60_000 }, alerts: { via: [], to: 'root', delayWarning: 14_400_000, delayDsn: false },
    transports: {}, routes: [],
  };
}

async function listen(cfg: Config, trustedNetworks?: string[]) {
  const spool = openSpool({ dir: cfg.spool.dir });
  const l = await startListener({
    config: () => cfg, log: memoryLogger(), listen: [{ host: '127.0.0.1', port: 0 }], trustedNetworks,
    queue: (req) => spool.submit({ sender: req.sender, recipients: req.recipients, submittedAt: Date.now(), uid: req.uid, user: req.user, via: 'smtp' }, req.message),
  });
  cleanups.push(() => l.close());
  return { port: l.addresses[0]!.port, spool };
}

/** Sends lines as given (no waiting for replies) and collects every reply line until the server closes or QUIT's 221. */
function talk(port: number, lines: string[], localAddress?: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const s = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }, () => s.write(lines.map((l) => l + '\r\n').join('')));
    s.setEncoding('latin1');
    s.on('data', (d: string) => { buf += d; if (/^221 /m.test(buf)) s.end(); });
    s.on('close', () => resolve(buf.split('\r\n').filter((l) => l !== '')));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error(`no end of dialogue; got ${JSON.stringify(buf)}`)));
  });
}

/** Like talk, but waits for each reply before the next command (a polite client). */
async function dialogue(port: number, lines: string[], localAddress?: string): Promise<string[]> {
  const s = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
  s.setEncoding('latin1');
  let buf = '';
  const replies: string[] = [];
  const next = () => new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3} [^\r\n]*\r\n/.exec(buf);
      if (m) { buf = buf.slice(m[0].length); s.off('data', onData); resolve(m[0].trim().split('\r\n').pop()!); return true; }
      return false;
    };
    const onData = (d: string) => { buf += d; check(); };
    if (!check()) { s.on('data', onData); s.once('error', reject); }
  });
  replies.push(await next());
  for (const l of lines) { s.write(l + '\r\n'); replies.push(await next()); }
  s.destroy();
  return replies;
}

test('the installed smtp-server still has every line the patch relies on (checked before patching)', async () => {
  // The first install in this process runs checkFingerprints on the library's own methods.
  await assert.doesNotReject(installSmtpCompat());
  const { SMTPConnection } = await import('smtp-server/lib/smtp-connection.js') as unknown as { SMTPConnection: { prototype: Record<string, unknown> } };
  assert.equal((SMTPConnection.prototype.init as () => void).name, 'init');
  assert.equal((SMTPConnection.prototype._parseAddressCommand as () => void).name, 'parseAddressCommand', 'patched');
});

test('connection ids: a counter instead of 80 random bits, distinct per connection; PROXY sockets keep the library\'s way', async () => {
  await installSmtpCompat();
  const { SMTPServer } = await import('smtp-server') as unknown as { SMTPServer: { prototype: Record<string, unknown> } };
  const handle = SMTPServer.prototype._handleProxy as (this: unknown, s: object, cb: (e: null, o: { id: string; ignore: boolean }) => void) => void;
  assert.equal(handle.name, 'handleProxy', 'patched');
  const server = { options: { ignoredHosts: ['127.0.0.9'] }, _expectsProxyHeader: () => false };
  const one = await new Promise<{ id: string; ignore: boolean }>((r) => handle.call(server, { remoteAddress: '127.0.0.1' }, (_e, o) => r(o)));
  const two = await new Promise<{ id: string; ignore: boolean }>((r) => handle.call(server, { remoteAddress: '127.0.0.9' }, (_e, o) => r(o)));
  assert.notEqual(one.id, two.id);
  assert.match(one.id, /^[0-9a-v]{16,}$/);
  assert.deepEqual([one.ignore, two.ignore], [false, true], 'ignoredHosts as the library reads it');
  assert.throws(() => checkFingerprints({ _handleProxy() { /* changed */ } }, SERVER_FINGERPRINTS, 'SMTPServer'),
    (e: Error & { code?: string }) => e.code === 'ESMTPCOMPAT' && /SMTPServer\._handleProxy no longer has/.test(e.message));
});

test('a changed smtp-server fails loudly with ESMTPCOMPAT, naming what is gone', () => {
  const changed = { ...Object.fromEntries(Object.keys(FINGERPRINTS).map((k) => [k, function x() { /* nothing */ }])) };
  assert.throws(() => checkFingerprints(changed), (e: Error & { code?: string; hint?: string }) =>
    e.code === 'ESMTPCOMPAT' && /SMTPConnection\.init no longer has/.test(e.message) && /smtp-compat\.ts/.test(e.hint ?? ''));
});

test('reparseBare: only plain local names, and everything else the library checks still applies', () => {
  const lib = (_n: string, c: unknown) => {
    const m = /<([^<>]*)>/.exec(String(c));
    return m && m[1]!.includes('@') && !/[\r\n]/.test(String(c)) ? { address: m[1]!, args: false } : false as const;
  };
  assert.deepEqual(reparseBare(lib, 'mail from', 'MAIL FROM:<root>'), { address: 'root', args: false });
  assert.deepEqual(reparseBare(lib, 'rcpt to', 'RCPT TO: <www-data>'), { address: 'www-data', args: false });
  for (const bad of ['MAIL FROM:<-oQ/tmp>', 'RCPT TO:<a b>', 'RCPT TO:<|cmd>', 'RCPT TO:</etc/passwd>', 'RCPT TO:<root', 'RCPT TO:<>', 'RCPT TO:<a@>', 'DATA']) {
    assert.equal(reparseBare(lib, 'rcpt to', bad), false, bad);
  }
});

test('loopback client: bare sender and recipient are accepted and qualified as sendmail does (dnf-automatic)', async () => {
  const cfg = config();
  const { port, spool } = await listen(cfg);
  const r = await dialogue(port, ['EHLO localhost', 'MAIL FROM:<root>', 'RCPT TO:<root>', 'RCPT TO:<postmaster>', 'DATA',
    'Subject: dnf\r\n\r\nupdates\r\n.', 'QUIT']);
  assert.deepEqual(r.map((l) => l.slice(0, 3)), ['220', '250', '250', '250', '250', '354', '250', '221'], r.join('\n'));
  const [m] = await spool.list('queue');
  assert.equal(m!.envelope.sender, 'root@test.example');
  assert.deepEqual(m!.envelope.recipients, ['root@test.example', 'postmaster@test.example']);
});

test('loopback client: no greeting pause, so a client that talks at once is served, not told "too soon"', async () => {
  const { port } = await listen(config());
  const r = await talk(port, ['EHLO localhost', 'QUIT']);
  assert.match(r[0]!, /^220 /, r.join('\n'));
  assert.ok(!r.some((l) => /too soon/i.test(l)), r.join('\n'));
  assert.ok(r.some((l) => /^221 /.test(l)), r.join('\n'));
});

test('relaying peer (not loopback): bare names still refused with the library\'s 501, and the early-talker check stays', async () => {
  // 127.0.0.2 plays a remote host allowed to relay after AUTH: only 127.0.0.1 is trusted here.
  const cfg = config();
  cfg.listener.allowRelayFrom = ['127.0.0.2/32'];
  const { port } = await listen(cfg, ['127.0.0.1/32']);
  const r = await dialogue(port, ['EHLO remote.test', 'MAIL FROM:<root>', 'RCPT TO:<root>'], '127.0.0.2');
  assert.match(r[2]!, /^501 .*Bad sender address syntax/);
  assert.match(r[3]!, /^50[13] /);
  const early = await talk(port, ['EHLO remote.test', 'QUIT'], '127.0.0.2');
  assert.ok(early.some((l) => /too soon/i.test(l)), early.join('\n'));
});
