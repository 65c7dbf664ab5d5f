/**
 * How doctor and install run other programs (alternatives, dpkg-divert,
 * getenforce, systemctl, …): an argv, never a shell, with a time limit.
 *
 * A Runner never throws: a program that is missing answers code 127 (like a
 * shell), one that runs too long is killed and answers code 124 (like
 * timeout(1)). Tests inject their own Runner; install --root wraps it to
 * record instead of run.
 */
import { SYSTEM_PROGRAM_TIMEOUT_MS } from '../config/defaults.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Runner = (argv: string[]) => Promise<RunResult>;

export const NOT_FOUND = 127;
export const TIMED_OUT = 124;

export function systemRunner(timeoutMs = SYSTEM_PROGRAM_TIMEOUT_MS, env?: NodeJS.ProcessEnv): Runner {
  return async (argv) => {
    const { execFile } = await import('node:child_process');
    return new Promise<RunResult>((resolve) => {
      execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, env: env ?? { ...process.env, LC_ALL: 'C' } },
        (err, stdout, stderr) => {
          if (!err) { resolve({ code: 0, stdout: String(stdout), stderr: String(stderr) }); return; }
          const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
          if (e.code === 'ENOENT') { resolve({ code: NOT_FOUND, stdout: '', stderr: `${argv[0]}: not found` }); return; }
          if (e.killed) { resolve({ code: TIMED_OUT, stdout: String(stdout), stderr: `${argv[0]}: timed out after ${timeoutMs} ms` }); return; }
          resolve({ code: typeof e.code === 'number' ? e.code : 1, stdout: String(stdout), stderr: String(stderr) || e.message });
        });
    });
  };
}

/** Quotes an argv for display, as a shell would need it. */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
