/**
 * Runs the built CLI as a user would: a real process, stdin piped, with a
 * clean environment (no SYSMAIL_* leaking in from the developer's shell).
 * `makeHost` lays out a temp "host": config file, spool, log, secrets.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, tempDir } from './paths.js';

export interface RunResult { code: number | null; stdout: string; stderr: string }

export function runCli(argv: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; argv0?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...opts.env };
  const cmd = opts.argv0 ?? process.execPath;
  const args = opts.argv0 ? argv : [cliPath, ...argv];
  return runProcess(cmd, args, { env, input: opts.input, timeoutMs: opts.timeoutMs });
}

/** Any program, with exactly the environment given; killed after timeoutMs (default 20 s). */
export function runProcess(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

export interface TestHost {
  dir: string;
  configFile: string;
  spool: string;
  logFile: string;
  /** Environment that points the CLI at this host. */
  env: NodeJS.ProcessEnv;
  /** A `sendmail` symlink to the built CLI, so argv[0] is "sendmail" as for cron. */
  sendmail: string;
  writeConfig(toml: string): void;
  events(): Array<Record<string, unknown>>;
}

export function makeHost(toml = ''): TestHost {
  const dir = tempDir('sysmail-host-');
  chmodSync(dir, 0o755);
  const spool = join(dir, 'spool');
  const logFile = join(dir, 'log', 'sysmail.log');
  const configFile = join(dir, 'sysmail.toml');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const sendmail = join(bin, 'sendmail');
  symlinkSync(cliPath, sendmail);
  const host: TestHost = {
    dir, configFile, spool, logFile, sendmail,
    env: { SYSMAIL_CONFIG: configFile },
    writeConfig(text: string) {
      writeFileSync(configFile, `[spool]\ndir = "${spool}"\nretry_min = "1s"\nretry_max = "2s"\n\n[log]\nfile = "${logFile}"\n\n${text}`, { mode: 0o600 });
    },
    events() {
      if (!existsSync(logFile)) return [];
      return readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
  host.writeConfig(toml);
  return host;
}

export function writeSecret(dir: string, name: string, value: string): string {
  const p = join(dir, name);
  writeFileSync(p, value + '\n', { mode: 0o600 });
  return p;
}

/** Polls until fn returns a truthy value or the time is up. */
export async function waitUntil<T>(fn: () => T | Promise<T>, ms = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until no delivery can still happen: queue/, active/ (claims) and drop/ of the spool are
 * empty. A message is in active/ from its claim until its delivery has completed, so once all
 * three are empty every delivery that will ever happen has happened: a duplicate check after this
 * is exact, where a sleep would only be a guess.
 */
export async function waitForIdleSpool(spoolDir: string, ms = 15_000): Promise<void> {
  const { readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const entries = (sub: string) => { try { return readdirSync(join(spoolDir, sub)); } catch { return []; } };
  await waitUntil(() => ['queue', 'active', 'drop'].every((sub) => entries(sub).length === 0), ms,
    `an idle spool (${spoolDir}: queue/ ${entries('queue').length}, active/ ${entries('active').length}, drop/ ${entries('drop').length})`);
}
