/**
 * The CLI's names and help: `sysmail help COMMAND` answers for every command
 * main.ts dispatches (a new command without help fails here), an unknown
 * topic is a usage error, and the seed's script name `oci-notification-mail`
 * (dnf-automatic's `command_format = "... {subject}"`, body on stdin) works
 * both as a symlink to the CLI and as the wrapper `install --notify-command`
 * writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, symlinkSync, existsSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, repoRoot, tempDir } from './helpers/paths.js';
import { runCli, runProcess, waitUntil } from './helpers/cli.js';

/** The command table of src/cli/main.ts, read from the source so a new entry is covered at once. */
function commandNames(): string[] {
  const src = readFileSync(join(repoRoot, 'src', 'cli', 'main.ts'), 'utf8');
  const table = /const COMMANDS[^{]*\{([\s\S]*?)\n\};/.exec(src)![1]!;
  const names = [...table.matchAll(/^\s+'?([a-z-]+)'?:\s*async/gm)].map((m) => m[1]!);
  assert.ok(names.length >= 15, `parsed the command table (${names.join(',')})`);
  return names;
}

test('sysmail help COMMAND gives that command\'s own help, for every command', async () => {
  const generic = (await runCli(['help'])).stdout;
  for (const name of commandNames()) {
    const r = await runCli(['help', name]);
    assert.equal(r.code, 0, `help ${name}: ${r.stderr}`);
    assert.notEqual(r.stdout, generic, `help ${name} printed the generic help`);
    assert.ok(r.stdout.includes(name), `help ${name} names the command`);
  }
});

test('help for something that is not a command: exit 64 and the list of commands', async () => {
  const r = await runCli(['help', 'sevre']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /no help for "sevre"/);
  assert.match(r.stderr, /fix: .*serve/);
});

function messages(maildir: string): string[] {
  const dir = join(maildir, 'new');
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')) : [];
}

test('oci-notification-mail {subject} (body on stdin), as a symlink to the CLI, sends to the admin', async () => {
  const dir = tempDir('sysmail-names-');
  const state = join(dir, 'state');
  const cfg = join(dir, 'sysmail.toml');
  writeFileSync(cfg, '[general]\nadmin = "ops@example.com"\n\n[transports.box]\ntype = "maildir"\npath = "' + join(dir, 'box') + '"\n\n[[routes]]\ntransport = "box"\n');
  const link = join(dir, 'oci-notification-mail');
  symlinkSync(cliPath, link);
  // dnf-automatic's [command] emitter runs command_format through /bin/sh with {subject} shell-quoted.
  const r = await runProcess('/bin/sh', ['-c', `${link} 'Updates applied on '"'"'web1'"'"'.'`],
    { env: { PATH: process.env.PATH, SYSMAIL_STATE_DIR: state, SYSMAIL_CONFIG: cfg }, input: 'Upgraded:\n  openssl-3.0.7-27.el9\n' });
  assert.equal(r.code, 0, r.stderr);
  const [msg] = await waitUntil(() => { const m = messages(join(dir, 'box')); return m.length ? m : null; }, 15_000, 'delivery');
  assert.match(msg!, /^Subject: Updates applied on 'web1'\.$/m);
  assert.match(msg!, /^To: ops@example\.com$/m);
  assert.match(msg!, /openssl-3\.0\.7-27\.el9/);
});

test('install --notify-command writes a wrapper that runs notify; an old script in the way is refused, not kept silently', async () => {
  const root = tempDir('sysmail-names-root-');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'os-release'), 'ID=debian\nID_LIKE=\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
  const target = '/usr/local/bin/oci-notification-mail';
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  writeFileSync(join(root, target), '#!/bin/sh\n# the old OCI CLI script\n', { mode: 0o755 });
  const refused = await runCli(['install', '--root', root, '--notify-command', target]);
  assert.equal(refused.code, 73, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /was not written by sysmail/);
  assert.match(refused.stderr, /fix: keep it aside \(mv \/usr\/local\/bin\/oci-notification-mail /);

  writeFileSync(join(root, target + '.old'), readFileSync(join(root, target)));
  (await import('node:fs')).rmSync(join(root, target));
  const dry = await runCli(['install', '--root', root, '--notify-command', target, '--dry-run']);
  assert.match(dry.stdout, /would +write \/usr\/local\/bin\/oci-notification-mail \(0755\)/);
  const ok = await runCli(['install', '--root', root, '--notify-command', target]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal(statSync(join(root, target)).mode & 0o777, 0o755);
  const again = await runCli(['install', '--root', root, '--notify-command', target]);
  assert.match(again.stdout, /already +\/usr\/local\/bin\/oci-notification-mail/);

  // The wrapper, run as dnf-automatic runs it, delivers to the admin.
  const dir = tempDir('sysmail-names-host-');
  const cfg = join(dir, 'sysmail.toml');
  writeFileSync(cfg, '[general]\nadmin = "ops@example.com"\n\n[transports.box]\ntype = "maildir"\npath = "' + join(dir, 'box') + '"\n\n[[routes]]\ntransport = "box"\n');
  const r = await runProcess('/bin/sh', ['-c', `${join(root, target)} 'Updates available on web1.'`],
    { env: { PATH: process.env.PATH, SYSMAIL_STATE_DIR: join(dir, 'state'), SYSMAIL_CONFIG: cfg }, input: 'body\n' });
  assert.equal(r.code, 0, r.stderr);
  const [msg] = await waitUntil(() => { const m = messages(join(dir, 'box')); return m.length ? m : null; }, 15_000, 'delivery');
  assert.match(msg!, /^Subject: Updates available on web1\.$/m);

  const un = await runCli(['uninstall', '--root', root]);
  assert.equal(un.code, 0, un.stdout + un.stderr);
  assert.ok(!existsSync(join(root, target)), 'uninstall removes the wrapper');
  assert.ok(existsSync(join(root, target + '.old')), 'and leaves the old script');
});
