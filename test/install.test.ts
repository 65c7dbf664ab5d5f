/**
 * `sysmail install` / `uninstall` into staging trees (--root): the tree it
 * makes, idempotence (a second run changes not one byte or mode), --dry-run
 * writing nothing, and uninstall giving back exactly the tree that was there,
 * including a pre-existing /usr/sbin/sendmail. On the Debian tree the real
 * dpkg-divert and update-alternatives run, confined by their own --root; on
 * the RHEL tree the alternatives calls are recorded, not run. Also: the
 * wrappers really run sysmail, and the man pages render without a warning.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot, tempDir } from './helpers/paths.js';
import { runInstall, type InstallOptions } from '../src/install/install.js';
import { runUninstall } from '../src/install/uninstall.js';
import { systemRunner, type Runner } from '../src/system/exec.js';
import { rewriteUnit, wrapperScript } from '../src/install/content.js';
import { WRAPPERS } from '../src/system/layout.js';
import { followChain, isSysmailProgram } from '../src/system/mta-links.js';
import type { InstallState } from '../src/install/state.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function temp(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  chmodSync(d, 0o755);
  return d;
}

/** The package as npm installs it: etc/, man/, packaging/ from this checkout. */
const pkg = (() => {
  const d = temp('sysmail-pkg-');
  writeFileSync(join(d, 'package.json'), '{"name":"sysmail"}\n');
  for (const sub of ['etc', 'man', join('packaging', 'systemd')]) cpSync(join(repoRoot, sub), join(d, sub), { recursive: true });
  return d;
})();

/** path -> "d 0755" | "f 0644 <sha256>" | "l -> target", for every entry under root. */
function snapshot(root: string, ignore: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const rel = '/' + relative(root, p);
      if (ignore.includes(rel)) continue;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      if (st.isSymbolicLink()) out[rel] = `l -> ${readlinkSync(p)}`;
      else if (st.isDirectory()) { out[rel] = `d ${mode}`; walk(p); }
      else out[rel] = `f ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(root);
  return out;
}

function recorder(): { run: Runner; calls: string[][] } {
  const real = systemRunner(30_000);
  const calls: string[][] = [];
  return { calls, run: async (argv) => { calls.push(argv); return real(argv); } };
}

function opts(root: string, run: Runner, extra: Partial<InstallOptions> = {}): InstallOptions & { lines: string[] } {
  const lines: string[] = [];
  return { root, dryRun: false, packageDir: pkg, node: process.execPath, entry: cli, run, out: (l) => { lines.push(l); }, lines, ...extra };
}

/** A Debian host: exim owns /usr/sbin/sendmail (a real file) and /usr/bin/mailq (a symlink), dpkg's databases exist. */
function debianTree(): string {
  const root = temp('sysmail-stage-deb-');
  for (const d of ['etc/alternatives', 'usr/sbin', 'usr/bin', 'var/lib/dpkg/alternatives', 'var/log']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
  writeFileSync(join(root, 'usr/sbin/sendmail'), '#!/bin/sh\necho exim4 pretending\n', { mode: 0o755 });
  symlinkSync('../sbin/sendmail', join(root, 'usr/bin/mailq'));
  writeFileSync(join(root, 'var/lib/dpkg/diversions'), '');
  writeFileSync(join(root, 'var/log/alternatives.log'), '');
  return root;
}

function rhelTree(): string {
  const root = temp('sysmail-stage-rhel-');
  for (const d of ['etc/alternatives', 'usr/sbin', 'usr/bin', 'var/lib/alternatives']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/os-release'), 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n');
  writeFileSync(join(root, 'usr/sbin/sendmail.postfix'), 'postfix\n', { mode: 0o755 });
  symlinkSync('/usr/sbin/sendmail.postfix', join(root, 'etc/alternatives/mta'));
  symlinkSync('/etc/alternatives/mta', join(root, 'usr/sbin/sendmail'));
  return root;
}

function state(root: string): InstallState {
  return JSON.parse(readFileSync(join(root, 'var/lib/sysmail/install-state.json'), 'utf8')) as InstallState;
}

test('Debian tree: install makes the tree, diverts exim, registers the alternatives; again changes nothing; uninstall restores it', async () => {
  const root = debianTree();
  const before = snapshot(root);
  const r = recorder();
  const o = opts(root, r.run);
  const s1 = await runInstall(o);
  assert.equal(s1.distro.family, 'debian');
  const tree = snapshot(root);
  const expect: Record<string, string> = {
    '/etc/sysmail': 'd 0755', '/etc/sysmail/secrets': 'd 0700', '/var/spool/sysmail': 'd 0711', '/var/spool/sysmail/queue': 'd 0700',
    '/var/spool/sysmail/tmp': 'd 0700', '/var/spool/sysmail/active': 'd 0700', '/var/spool/sysmail/state': 'd 0700',
    '/var/spool/sysmail/failed': 'd 0700', '/var/spool/sysmail/corrupt': 'd 0700', '/var/spool/sysmail/drop': 'd 1777',
    '/var/log/sysmail': 'd 0750', '/var/lib/sysmail': 'd 0755',
    '/usr/sbin/sendmail': 'l -> /etc/alternatives/sendmail', '/etc/alternatives/sendmail': 'l -> /usr/sbin/sendmail.sysmail',
    '/usr/bin/mailq': 'l -> /etc/alternatives/sendmail-mailq', '/usr/bin/newaliases': 'l -> /etc/alternatives/sendmail-newaliases',
    '/usr/sbin/sendmail.sysmail-orig': before['/usr/sbin/sendmail']!, '/usr/bin/mailq.sysmail-orig': 'l -> ../sbin/sendmail',
  };
  for (const [p, v] of Object.entries(expect)) assert.equal(tree[p], v, p);
  for (const p of ['/etc/sysmail/sysmail.toml', '/etc/systemd/system/sysmail.service', '/etc/systemd/system/sysmail-flush.service',
    '/etc/systemd/system/sysmail-flush.timer', '/etc/systemd/system/sysmail-flush.path', '/var/spool/sysmail/flush-path-unit', '/usr/local/share/man/man8/sysmail.8', '/usr/local/share/man/man5/sysmail.toml.5',
    '/usr/local/share/man/man8/sysmail-sendmail.8']) assert.match(tree[p] ?? '', /^f 0644 /, p);
  assert.equal(readFileSync(join(root, 'etc/sysmail/sysmail.toml'), 'utf8'), readFileSync(join(repoRoot, 'etc/sysmail.toml.example'), 'utf8'));
  for (const w of Object.values(WRAPPERS)) {
    assert.match(tree[w.path] ?? '', /^f 0755 /, w.path);
    assert.equal(readFileSync(join(root, w.path), 'utf8'), wrapperScript(w, process.execPath, cli));
  }
  const unit = readFileSync(join(root, 'etc/systemd/system/sysmail.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/libexec\/sysmail\/sysmail serve$/m);
  assert.doesNotMatch(unit, /^ExecStart=\/usr\/bin\/sysmail/m);
  assert.match(readFileSync(join(root, 'etc/systemd/system/sysmail-flush.service'), 'utf8'), /^ExecStart=\/usr\/libexec\/sysmail\/sysmail flush/m);
  // What doctor sees: the chain ends at our wrapper.
  const chain = await followChain(root, '/usr/sbin/sendmail');
  assert.ok(await isSysmailProgram(root, chain.hops.at(-1)!));
  // The real tools ran, confined to the tree by --root, and were recorded with their undo.
  const ran = state(root).changes.filter((c) => c.kind === 'command');
  assert.deepEqual(ran.map((c) => c.kind === 'command' && [c.argv.slice(0, 2), c.ran]), [
    [['dpkg-divert', '--local'], true], [['dpkg-divert', '--local'], true], [['update-alternatives', '--install'], true], [['systemctl', 'enable'], false]]);
  assert.ok(r.calls.filter((c) => c[0] === 'dpkg-divert' || c[0] === 'update-alternatives').every((c) => c[1] === '--root' && c[2] === root));
  assert.ok(!r.calls.some((c) => c[0] === 'systemctl'), 'systemctl is never run for a staged tree');
  // sysmail-flush.path is enabled with the timer, so sendmail may skip starting a flush (the marker).
  assert.ok(ran.some((c) => c.kind === 'command' && c.argv.join(' ') === 'systemctl enable sysmail-flush.timer sysmail-flush.path'));
  assert.match(readFileSync(join(root, 'var/lib/dpkg/diversions'), 'utf8'), /^\/usr\/sbin\/sendmail\n\/usr\/sbin\/sendmail\.sysmail-orig\n:$/m);

  const o2 = opts(root, recorder().run);
  const s2 = await runInstall(o2);
  assert.equal(s2.changes, 0);
  assert.deepEqual(snapshot(root), tree, 'a second install changes nothing');
  assert.match(o2.lines.at(-1)!, /nothing to do/);
  assert.ok(o2.lines.some((l) => /already +update-alternatives: sendmail selects \/usr\/sbin\/sendmail\.sysmail/.test(l)));

  const dry = opts(root, recorder().run, { dryRun: true });
  await runUninstall(dry);
  assert.deepEqual(snapshot(root), tree, 'uninstall --dry-run changes nothing');
  assert.ok(dry.lines.some((l) => /would +run: dpkg-divert --local --rename --remove \/usr\/sbin\/sendmail/.test(l)));

  const u = opts(root, recorder().run);
  await runUninstall(u);
  // Left by the Debian tools themselves, as on any Debian system: their log and dpkg-divert's backup file.
  const toolFiles = ['/var/log/alternatives.log', '/var/lib/dpkg/diversions-old'];
  assert.deepEqual(snapshot(root, toolFiles), Object.fromEntries(Object.entries(before).filter(([k]) => !toolFiles.includes(k))));
  assert.equal(readFileSync(join(root, 'usr/sbin/sendmail'), 'utf8'), '#!/bin/sh\necho exim4 pretending\n');
});

test('RHEL tree: alternatives --install into the mta group is recorded (not run); uninstall restores the tree exactly', async () => {
  const root = rhelTree();
  const before = snapshot(root);
  const r = recorder();
  const o = opts(root, r.run);
  await runInstall(o);
  assert.ok(!r.calls.some((c) => c[0] === 'alternatives' || c[0] === 'systemctl'), JSON.stringify(r.calls));
  const cmds = state(root).changes.filter((c) => c.kind === 'command');
  assert.deepEqual(cmds[0], {
    kind: 'command', ran: false,
    argv: ['alternatives', '--install', '/usr/sbin/sendmail', 'mta', '/usr/sbin/sendmail.sysmail', '30',
      '--slave', '/usr/bin/mailq', 'mta-mailq', '/usr/bin/mailq.sysmail',
      '--slave', '/usr/bin/newaliases', 'mta-newaliases', '/usr/bin/newaliases.sysmail',
      '--slave', '/usr/lib/sendmail', 'mta-sendmail', '/usr/sbin/sendmail.sysmail'],
    undo: [['alternatives', '--remove', 'mta', '/usr/sbin/sendmail.sysmail']],
  });
  assert.deepEqual(cmds[1]!.kind === 'command' && cmds[1]!.argv, ['alternatives', '--set', 'mta', '/usr/sbin/sendmail.sysmail']);
  assert.ok(o.lines.some((l) => /recorded +alternatives --install \/usr\/sbin\/sendmail mta/.test(l)));
  // The staged tree's links are left alone: the recorded commands make them on the target.
  assert.equal(readlinkSync(join(root, 'usr/sbin/sendmail')), '/etc/alternatives/mta');
  const tree = snapshot(root);
  assert.equal((await runInstall(opts(root, r.run))).changes, 0);
  assert.deepEqual(snapshot(root), tree);
  await runUninstall(opts(root, r.run));
  assert.deepEqual(snapshot(root), before);
});

test('--dry-run writes nothing, and says what it would do', async () => {
  const root = debianTree();
  const before = snapshot(root);
  const o = opts(root, recorder().run, { dryRun: true });
  const s = await runInstall(o);
  assert.deepEqual(snapshot(root), before);
  assert.ok(s.changes === 0 && o.lines.some((l) => /would +mkdir -m 0711 \/var\/spool\/sysmail/.test(l)));
  assert.ok(o.lines.some((l) => /would +run: update-alternatives --install/.test(l)));
  assert.ok(!existsSync(join(root, 'var/lib/sysmail')));
  const listed = o.lines.filter((l) => /^ {2}would /.test(l)).length;
  assert.ok(listed > 0);
  assert.equal(o.lines.at(-1), `sysmail install: would make ${listed} change(s), ${s.already} already done`, 'the summary counts the steps it listed');
});

test('an existing config is never overwritten; an edited file is kept by uninstall and stays recorded', async () => {
  const root = temp('sysmail-stage-other-');
  mkdirSync(join(root, 'etc/sysmail'), { recursive: true });
  mkdirSync(join(root, 'usr/sbin'), { recursive: true });
  writeFileSync(join(root, 'etc/sysmail/sysmail.toml'), '# mine\n');
  writeFileSync(join(root, 'usr/sbin/sendmail'), 'ssmtp\n', { mode: 0o755 });
  const before = snapshot(root);
  const o = opts(root, recorder().run);
  const s = await runInstall(o);
  assert.equal(s.distro.family, 'other');
  assert.equal(readFileSync(join(root, 'etc/sysmail/sysmail.toml'), 'utf8'), '# mine\n');
  // No alternatives system: the original is kept in the backup and replaced by a symlink.
  assert.equal(readlinkSync(join(root, 'usr/sbin/sendmail')), '/usr/sbin/sendmail.sysmail');
  assert.equal(readFileSync(join(root, 'var/lib/sysmail/backup/usr/sbin/sendmail'), 'utf8'), 'ssmtp\n');
  const unit = join(root, 'etc/systemd/system/sysmail.service');
  writeFileSync(unit, readFileSync(unit, 'utf8') + '# local change\n');
  const u = opts(root, recorder().run);
  const res = await runUninstall(u);
  // The edited unit, and the directories that hold it: /etc/systemd/system, /etc/systemd.
  assert.equal(res.kept, 3, u.lines.join('\n'));
  assert.ok(u.lines.some((l) => /kept +\/etc\/systemd\/system\/sysmail\.service: changed since install/.test(l)));
  assert.equal(readFileSync(join(root, 'usr/sbin/sendmail'), 'utf8'), 'ssmtp\n');
  assert.ok(state(root).changes.some((c) => c.kind === 'file' && c.path === '/etc/systemd/system/sysmail.service'));
  rmSync(unit);
  await runUninstall(opts(root, recorder().run));
  assert.deepEqual(snapshot(root), before);
});

test('the CLI: install --root --dry-run exits 0; the installed wrappers run sysmail; uninstall without a state file exits 66', async () => {
  const root = debianTree();
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
  const dry = await run(['install', '--root', root, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would/);
  const none = await run(['uninstall', '--root', root]);
  assert.equal(none.code, 66);
  assert.match(none.stderr, /install-state\.json does not exist/);

  await runInstall(opts(root, recorder().run));
  const host = temp('sysmail-wrapper-host-');
  const cfg = join(host, 'sysmail.toml');
  writeFileSync(cfg, `[spool]\ndir = "${join(host, 'spool')}"\n[log]\nfile = false\n`);
  const mailq = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile('/bin/sh', [join(root, 'usr/bin/mailq.sysmail')], { env: { PATH: process.env.PATH, SYSMAIL_CONFIG: cfg }, timeout: 20_000 },
      (err, stdout) => resolve({ code: err ? 1 : 0, stdout }));
  });
  assert.equal(mailq.code, 0);
  assert.match(mailq.stdout, /Mail queue is empty/);
});

test('unit rewrite: only Exec lines that run sysmail change', () => {
  assert.equal(rewriteUnit('ExecStart=/usr/bin/sysmail serve\nExecReload=/bin/kill -HUP $MAINPID\nExecStartPre=-/usr/local/bin/sysmail config check\n# /usr/bin/sysmail\n'),
    'ExecStart=/usr/libexec/sysmail/sysmail serve\nExecReload=/bin/kill -HUP $MAINPID\nExecStartPre=-/usr/libexec/sysmail/sysmail config check\n# /usr/bin/sysmail\n');
});

test('man pages render with groff -ww -man and no warning', async () => {
  const pages = readdirSync(join(repoRoot, 'man')).filter((f) => /\.\d$/.test(f));
  assert.deepEqual(pages.sort(), ['sysmail-sendmail.8', 'sysmail.8', 'sysmail.toml.5']);
  for (const page of pages) {
    const r = await new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) => {
      execFile('groff', ['-ww', '-man', '-Tutf8', join(repoRoot, 'man', page)], { env: { PATH: process.env.PATH, LANG: 'C.UTF-8' } },
        (err, stdout, stderr) => resolve({ err, stdout, stderr }));
    });
    assert.ok(!r.err || (r.err as NodeJS.ErrnoException).code !== 'ENOENT', 'groff is missing: apt-get install groff-base');
    assert.equal(r.err, null, `${page}: ${r.stderr}`);
    assert.equal(r.stderr, '', `${page} has groff warnings`);
    assert.ok(r.stdout.length > 500, page);
    // A .TP tag is one input line: a synopsis split over two lines loses its end into the body.
    const lines = r.stdout.replace(/.\x08/g, '').split('\n');
    lines.forEach((line, i) => {
      const isTag = /^ {7}\S/.test(line) && /^ {8,}\S/.test(lines[i + 1] ?? '');
      const open = (line.match(/\[/g) ?? []).length;
      if (isTag) assert.equal(open, (line.match(/\]/g) ?? []).length, `${page}: broken tag "${line.trim()}"`);
    });
  }
});

test('--package-mode, as the .deb scriptlets run it (DPKG_MAINTSCRIPT_PACKAGE set): no packaged files written; removal gives the tree back', async () => {
  const root = debianTree();
  // The files dpkg unpacked before postinst runs.
  for (const w of Object.values(WRAPPERS)) {
    mkdirSync(dirname(join(root, w.path)), { recursive: true });
    writeFileSync(join(root, w.path), wrapperScript(w, process.execPath, cli), { mode: 0o755 });
  }
  const before = snapshot(root);
  // dpkg sets this for maintainer scripts; dpkg-divert then defaults to that package's diversions.
  const env = { ...process.env, LC_ALL: 'C', DPKG_MAINTSCRIPT_PACKAGE: 'sysmail' };
  const o = opts(root, systemRunner(30_000, env), { packaged: true });
  await runInstall(o);
  const tree = snapshot(root);
  for (const p of ['/etc/sysmail/sysmail.toml', '/etc/systemd/system/sysmail.service', '/usr/local/share/man/man8/sysmail.8']) {
    assert.equal(tree[p], undefined, `${p} is the package's to ship`);
  }
  // The one file postinst writes is the path-unit marker in the spool: state, not a packaged file.
  const written = state(root).changes.filter((c) => c.kind === 'file').map((c) => (c as { path: string }).path);
  assert.deepEqual(written, ['/var/spool/sysmail/flush-path-unit'], 'no packaged file is recorded: the package owns them');
  assert.equal(tree['/usr/sbin/sendmail'], 'l -> /etc/alternatives/sendmail');
  assert.equal(tree['/var/spool/sysmail/drop'], 'd 1777');
  const u = opts(root, systemRunner(30_000, env));
  const r = await runUninstall(u);
  assert.equal(r.kept, 0, u.lines.join('\n'));
  const toolFiles = ['/var/log/alternatives.log', '/var/lib/dpkg/diversions-old'];
  assert.deepEqual(snapshot(root, toolFiles), Object.fromEntries(Object.entries(before).filter(([k]) => !toolFiles.includes(k))));
  assert.equal(readFileSync(join(root, 'usr/sbin/sendmail'), 'utf8'), '#!/bin/sh\necho exim4 pretending\n');
});
