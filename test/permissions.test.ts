/**
 * Permissions that work for every caller (issue 13, item 4): import leaves
 * the config directory 0755 even with secrets below it; a non-root caller
 * blocked by a directory is told which one and the exact fix; doctor's
 * "unprivileged user" check names what blocks. Real files, and the built CLI
 * run as nobody.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeImport } from '../src/importers/write.js';
import { checkReach, checkUnprivileged } from '../src/doctor/unprivileged.js';
import { cliPath } from './helpers/paths.js';

// Under /tmp and 0755, so nobody can get as far as the directories under test.
const root = mkdtempSync('/tmp/sysmail-perm-');
chmodSync(root, 0o755);
after(() => rmSync(root, { recursive: true, force: true }));
const NOBODY = 65534;

function runAs(uid: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [cliPath, ...args], { uid, gid: uid, cwd: '/', env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', ...env },
      stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
    c.stdin.end('Subject: t\n\nx\n');
  });
}

test('import --write: the config directory is 0755 even when the secrets directory is made below it', async () => {
  const etc = join(root, 'etc-a', 'sysmail');
  process.umask(0o077); // the worst umask an admin could have
  try {
    await writeImport({ toml: '# imported\n', secrets: [{ file: join(etc, 'secrets', 'relay.password'), value: 's3cret' }], warnings: [] } as never,
      { configPath: join(etc, 'sysmail.toml') });
  } finally { process.umask(0o022); }
  assert.equal(statSync(etc).mode & 0o777, 0o755, 'config directory');
  assert.equal(statSync(join(root, 'etc-a')).mode & 0o777, 0o755, 'directories made on the way');
  assert.equal(statSync(join(etc, 'sysmail.toml')).mode & 0o777, 0o644);
  assert.equal(statSync(join(etc, 'secrets')).mode & 0o777, 0o700);
  assert.equal(statSync(join(etc, 'secrets', 'relay.password')).mode & 0o777, 0o600);
});

test('a non-root sendmail blocked by a 0700 directory is told which directory and the exact fix (exit 78)', async () => {
  const etc = join(root, 'etc-b', 'sysmail');
  mkdirSync(etc, { recursive: true });
  chmodSync(join(root, 'etc-b'), 0o755);
  writeFileSync(join(etc, 'sysmail.toml'), '[general]\nadmin = "ops@example.com"\n', { mode: 0o644 });
  chmodSync(etc, 0o700);
  const r = await runAs(NOBODY, ['sendmail', '-t'], { SYSMAIL_CONFIG: join(etc, 'sysmail.toml') });
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, new RegExp(`the directory ${etc} \\(mode 0700\\) does not let this user`));
  assert.match(r.stderr, new RegExp(`chmod 755 ${etc}`));
  assert.doesNotMatch(r.stderr, /chmod 644/);
});

test('doctor: the unprivileged-user check names the directory, the file or drop/ that blocks, and passes on a good layout', async () => {
  const d = (path: string, mode: number) => ({ path, mode: 0o40000 | mode, isDir: true });
  const f = (path: string, mode: number) => ({ path, mode: 0o100000 | mode, isDir: false });
  const spool = [d('/', 0o755), d('/var', 0o755), d('/var/spool', 0o755), d('/var/spool/sysmail', 0o711)];
  const good = [d('/', 0o755), d('/etc', 0o755), d('/etc/sysmail', 0o755), f('/etc/sysmail/sysmail.toml', 0o644)];
  const drop = d('/var/spool/sysmail/drop', 0o1777);
  assert.equal(checkReach('/etc/sysmail/sysmail.toml', good, '/var/spool/sysmail', spool, drop).status, 'ok');
  const shut = checkReach('/etc/sysmail/sysmail.toml', [good[0]!, good[1]!, d('/etc/sysmail', 0o700), good[3]!], '/var/spool/sysmail', spool, drop);
  assert.equal(shut.status, 'fail');
  assert.match(shut.detail, /\/etc\/sysmail is mode 0700/);
  assert.equal(shut.fix, 'chmod 755 /etc/sysmail');
  const file = checkReach('/etc/sysmail/sysmail.toml', [good[0]!, good[1]!, good[2]!, f('/etc/sysmail/sysmail.toml', 0o600)], '/var/spool/sysmail', spool, drop);
  assert.match(file.fix ?? '', /^chmod 644 \/etc\/sysmail\/sysmail.toml/);
  const noDrop = checkReach('/etc/sysmail/sysmail.toml', good, '/var/spool/sysmail', spool, d('/var/spool/sysmail/drop', 0o700));
  assert.equal(noDrop.fix, 'chmod 1777 /var/spool/sysmail/drop');
  // And on real files.
  const real = await checkUnprivileged(join(root, 'etc-b', 'sysmail', 'sysmail.toml'), join(root, 'no-spool'));
  assert.equal(real.status, 'fail');
  assert.match(real.detail, /etc-b\/sysmail is mode 0700/);
});
