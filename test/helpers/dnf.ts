/**
 * Drives the built CLI the way dnf-automatic, unattended-upgrades, smartd,
 * mdadm and logwatch do: through programs on PATH and in fixed places, with
 * real child processes.
 *
 *   const host = makeHost();  const bin = toolBin(host);
 *   bin.dir       — a PATH entry holding `sysmail` (the built CLI), `sendmail`
 *                   (the makeHost symlink) and, on request, other names
 *   bin.wrapper(name, args) — /bin/sh script NAME that runs `sysmail ARGS… "$@"`
 *                   with an absolute node, so it works under a reset PATH
 *                   (smartd_warning.sh sets PATH=/usr/local/bin:/usr/bin:/bin)
 *   dnfPython()   — the python3 that imports Debian's python3-dnf; throws with
 *                   the apt-get line when it is missing (tests fail, never skip)
 *   runEmitters() — test/fixtures/dnf/emit.py: dnf's own AutomaticConfig and
 *                   build_emitters() against an automatic.conf text
 *   startServe()  — `sysmail serve --listen 127.0.0.1:0` (port read from stderr)
 *                   or `--no-listen`, the queue runner alone
 *   parseMail()   — headers (unfolded, encoded words decoded) and the text body
 *                   (base64 / quoted-printable undone) of a received message
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, fixtures } from './paths.js';
import { runProcess, waitUntil, type RunResult, type TestHost } from './cli.js';
import { decodeWords } from '../../src/message/encoded-words.js';

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface ToolBin {
  dir: string;
  /** PATH with dir first, then the system directories only. */
  path: string;
  wrapper(name: string, args: string[]): string;
}

export function toolBin(host: TestHost): ToolBin {
  const dir = join(host.dir, 'bin');
  const bin: ToolBin = {
    dir,
    path: `${dir}:/usr/local/bin:/usr/bin:/bin`,
    wrapper(name, args) {
      const p = join(dir, name);
      const fixed = args.map(shq).join(' ');
      writeFileSync(p, `#!/bin/sh\nexec ${shq(process.execPath)} ${shq(cliPath)} ${fixed} "$@"\n`);
      chmodSync(p, 0o755);
      return p;
    },
  };
  bin.wrapper('sysmail', []);
  return bin;
}

let python: string | null = null;

/** Debian's python3-dnf lives in /usr/lib/python3/dist-packages: use the system python3 that sees it. */
export function dnfPython(): string {
  if (python) return python;
  const tried: string[] = [];
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(candidate, ['-c', 'import dnf.automatic.main, dnf.automatic.emitter'], { encoding: 'utf8' });
    if (r.status === 0) return (python = candidate);
    tried.push(`${candidate}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  throw new Error(`dnf-automatic's emitters cannot be imported (${tried.join('; ')}); ` +
    'install Debian\'s python3-dnf: apt-get install --no-install-recommends python3-dnf');
}

export { runProcess };

export type Stage = 'available' | 'downloaded' | 'applied';

/**
 * Writes `conf` as HOST/automatic.conf and runs dnf-automatic's emitters on it
 * with PATH = bin first (so `sysmail` in command_format is the built CLI) and
 * SYSMAIL_CONFIG pointing at the host, as /etc/sysmail/sysmail.toml would be.
 */
export function runEmitters(host: TestHost, bin: ToolBin, conf: string, stage: Stage,
  opts: { systemName?: string; cwd?: string } = {}): Promise<RunResult> {
  const confFile = join(host.dir, 'automatic.conf');
  writeFileSync(confFile, conf);
  const env: NodeJS.ProcessEnv = {
    PATH: bin.path, HOME: host.dir, LANG: 'C.UTF-8', SYSMAIL_CONFIG: host.configFile,
    DNF_TEST_TRANSACTION: join(fixtures, 'dnf', 'transaction.txt'),
    ...(opts.systemName !== undefined ? { DNF_TEST_SYSTEM_NAME: opts.systemName } : {}),
  };
  return runProcess(dnfPython(), [join(fixtures, 'dnf', 'emit.py'), confFile, stage], { env, timeoutMs: 25_000 });
}

export interface Serve { port: number | null; child: ChildProcess; stderr(): string; stop(): Promise<number | null> }

/**
 * `sysmail serve` as systemd runs it: on 127.0.0.1 with a port the kernel
 * picks, or with `--no-listen` (queue runner only: what `sendmail` and
 * `sysmail send` hand their mail to on a host where the service runs).
 * stop() sends SIGTERM and resolves with the exit code.
 */
export async function startServe(host: TestHost, opts: { listen?: boolean } = {}): Promise<Serve> {
  const listen = opts.listen ?? true;
  const child = spawn(process.execPath, [cliPath, 'serve', '--config', host.configFile, ...(listen ? ['--listen', '127.0.0.1:0'] : ['--no-listen'])],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, HOME: host.dir, LANG: 'C.UTF-8' } });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let gone = false;
  void exited.then(() => { gone = true; });
  try {
    const m = await waitUntil(() => {
      if (gone) throw new Error(`sysmail serve exited early: ${err}`);
      return listen ? /listening on 127\.0\.0\.1:(\d+)/.exec(err) : /no listener/.exec(err);
    }, 10_000, 'sysmail serve to start');
    // The pid file tells `sendmail` that serve will deliver (src/submit/submit-core.ts isServeRunning).
    await waitUntil(() => existsSync(join(host.spool, 'serve.pid')), 5000, 'serve.pid');
    return {
      port: listen ? Number(m[1]) : null, child, stderr: () => err,
      async stop() { if (!gone) child.kill('SIGTERM'); return exited; },
    };
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
}

export interface ParsedMail {
  /** Header fields in order, names as sent, values unfolded and decoded. */
  headers: Array<[string, string]>;
  header(name: string): string | undefined;
  all(name: string): string[];
  /** The raw header block, for "no such line" checks. */
  rawHeaders: string;
  /** The body as text: transfer encoding undone, UTF-8, LF line ends. */
  body: string;
}

function qpDecode(s: string): Buffer {
  const soft = s.replace(/=\r?\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const c = soft[i]!;
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) { out.push(parseInt(soft.slice(i + 1, i + 3), 16)); i += 2; }
    else out.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(out);
}

export function parseMail(data: Buffer | string): ParsedMail {
  const text = (Buffer.isBuffer(data) ? data.toString('latin1') : data).replace(/\r\n/g, '\n');
  const cut = text.indexOf('\n\n');
  const rawHeaders = cut < 0 ? text : text.slice(0, cut + 1);
  const rawBody = cut < 0 ? '' : text.slice(cut + 2);
  const headers: Array<[string, string]> = [];
  for (const line of rawHeaders.split('\n')) {
    if (line === '') continue;
    if (/^[ \t]/.test(line) && headers.length > 0) { headers[headers.length - 1]![1] += ' ' + line.trim(); continue; }
    const i = line.indexOf(':');
    headers.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  for (const h of headers) h[1] = decodeWords(Buffer.from(h[1], 'latin1').toString('utf8'));
  const all = (name: string) => headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  const cte = (all('Content-Transfer-Encoding')[0] ?? '').toLowerCase();
  const bytes = cte === 'base64' ? Buffer.from(rawBody.replace(/\s+/g, ''), 'base64')
    : cte === 'quoted-printable' ? qpDecode(rawBody) : Buffer.from(rawBody, 'latin1');
  return { headers, header: (n) => all(n)[0], all, rawHeaders, body: bytes.toString('utf8').replace(/\r\n/g, '\n') };
}

/** The sysmail.toml part that relays everything to a plain-text sink on 127.0.0.1. */
export function relayToml(port: number, extra = ''): string {
  return `[general]
hostname = "web1.example.com"
domain = "example.com"
admin = "ops@example.net"
aliases = false

[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = ${port}
security = "none"
${extra}`;
}

/** A file that must never come to exist: proof that no shell ran a subject. */
export function canary(host: TestHost, name: string): { path: string; exists(): boolean } {
  const path = join(host.dir, name);
  return { path, exists: () => existsSync(path) };
}
