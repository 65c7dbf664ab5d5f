/**
 * Docs that cannot drift: every fenced block of README.md and docs/*.md is
 * extracted (test/helpers/doc-blocks.ts has the rules) and, unless the
 * markdown marks it `<!-- doctest: skip — reason -->`, run as a reader would:
 * `sh` blocks with `sh -e`, `toml` blocks through `sysmail config check`.
 * A new block that someone adds later is picked up and run too.
 *
 * The sandbox: each document gets a throwaway host. Its blocks run in order
 * (as a reader follows the page) in a private mount, PID and network
 * namespace (util-linux unshare, as root): /etc, /var, /usr and /root are
 * copy-on-write overlays whose changes land in a mkdtemp directory, /tmp is
 * that document's own directory, every other top-level directory (the
 * checkout too) is read-only, the network has no interface up (nothing
 * can leave the machine; a relay is unreachable, so mail stays queued), and
 * every process a block started dies with it; /run is empty but for the
 * checkout (/run/checkout), so systemctl cannot reach the host's systemd.
 * The built CLI is
 * /usr/bin/sysmail, /usr/local/bin/sysmail and /usr/sbin/sendmail, as after
 * `sysmail install`; $EDITOR is `true`; /root holds message.eml and
 * report.txt for the examples that read them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { cliPath, repoRoot, tempDir } from './helpers/paths.js';
import { completeToml, extractBlocks, type DocBlock } from './helpers/doc-blocks.js';

const DOCS = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const OVERLAID = ['etc', 'var', 'usr', 'root'];

const SETUP = `set -e
sb=$1
for d in ${OVERLAID.join(' ')}; do
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$sb/up/$d,workdir=$sb/work/$d" "/$d"
done
# The checkout, where /tmp cannot hide it (CI may clone under /tmp).
mount -t tmpfs -o mode=0755 tmpfs /run   # and no way to the host's systemd or D-Bus
mkdir /run/checkout && mount --bind "$3" /run/checkout && mount -o remount,bind,ro /run/checkout
mount --bind "$sb/tmp" /tmp
# Everything else is read-only: a block cannot touch the checkout or anything else on this host.
for d in /*; do
  case "$d" in /etc|/var|/usr|/root|/tmp|/run|/proc|/sys|/dev) continue ;; esac
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  mount --bind "$d" "$d" && mount -o remount,bind,ro "$d"
done
cd /root
exec /bin/sh -ec "$2"`;

function makeSandbox(): string {
  const sb = tempDir('sysmail-doctest-');
  for (const d of OVERLAID) { mkdirSync(join(sb, 'up', d), { recursive: true }); mkdirSync(join(sb, 'work', d), { recursive: true }); }
  mkdirSync(join(sb, 'tmp'), { mode: 0o1777 });
  const up = (p: string) => join(sb, 'up', p);
  assert.ok(!relative(repoRoot, cliPath).startsWith('..'), `the CLI under test (${cliPath}) is in the checkout`);
  for (const p of ['usr/bin/sysmail', 'usr/local/bin/sysmail', 'usr/sbin/sendmail', 'usr/bin/mailq']) {
    mkdirSync(dirname(up(p)), { recursive: true });
    symlinkSync(join('/run/checkout', relative(repoRoot, cliPath)), up(p));
  }
  writeFileSync(up('root/message.eml'), 'From: root\nTo: root\nSubject: doc example\n\nbody\n');
  writeFileSync(up('root/report.txt'), 'all backups done\n');
  return sb;
}

function runIn(sb: string, script: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--net', '--pid', '--fork', '--kill-child', '--mount-proc',
      '/bin/sh', '-c', SETUP, 'sh', sb, script, repoRoot], {
      env: { PATH: `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${dirname(process.execPath)}`, HOME: '/root', LANG: 'C.UTF-8', EDITOR: 'true', USER: 'root' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

const heredoc = (path: string, body: string) => `mkdir -p '${dirname(path)}'\ncat > '${path}' <<'SYSMAIL_DOCTEST_EOF'\n${body}SYSMAIL_DOCTEST_EOF\n`;

function scriptFor(b: DocBlock, n: number): string {
  if (b.action.kind === 'file') return heredoc(b.action.path, b.body);
  if (b.lang === 'sh') return b.body;
  const { toml, secretFiles, credentials } = completeToml(b.body);
  const cfg = `/root/doc-block-${n}.toml`;
  // As systemd's LoadCredential= would provide them.
  const creds = credentials.map((c) => `mkdir -p /run/credentials/sysmail && (umask 077; echo doc-secret > '/run/credentials/sysmail/${c}')\n`).join('');
  return secretFiles.map((f) => `mkdir -p '${dirname(f)}'\n[ -e '${f}' ] || { umask 077; echo doc-secret > '${f}'; }\n`).join('')
    + creds + heredoc(cfg, toml) + `CREDENTIALS_DIRECTORY=/run/credentials/sysmail sysmail config check -C ${cfg}\n`;
}

const all = DOCS.map((f) => extractBlocks(f, readFileSync(join(repoRoot, f), 'utf8')));

test('block rules: a fence needs a language, a skip its reason; a sysmail command hidden in a text block is caught', () => {
  const md = [
    '```', 'sysmail queue', '```',
    '<!-- doctest: skip -->', '```sh', 'dnf install x', '```',
    '```text', '$ sysmail flush', '```',
    '<!-- doctest: skip — needs a real EL host -->', '```sh', 'dnf install x', '```',
    '<!-- doctest: file /etc/esmtprc -->', '```conf', 'hostname = a:25', '```',
    '  ```toml', '  [spool]', '  mode = "ram"', '  ```',
  ].join('\n');
  const { blocks, errors } = extractBlocks('x.md', md);
  assert.equal(errors.length, 3, errors.join('\n'));
  assert.match(errors[0]!, /^x\.md:1: a fenced block without a language/);
  assert.match(errors[1]!, /^x\.md:4: "doctest: skip" needs a reason/);
  assert.match(errors[2]!, /^x\.md:9: a sysmail command in a "text" block/);
  assert.deepEqual(blocks.map((b) => b.action), [
    { kind: 'show' }, { kind: 'skip', reason: '' }, { kind: 'show' }, { kind: 'skip', reason: 'needs a real EL host' },
    { kind: 'file', path: '/etc/esmtprc' }, { kind: 'run' },
  ]);
  assert.equal(blocks[5]!.body, '[spool]\nmode = "ram"\n', 'indentation of a block inside a list item is removed');
});

test('a toml fragment is completed only with what it names: stub transports, a catch-all route, its secrets', () => {
  const c = completeToml('[[routes]]\nname = "a"\ntransports = ["relay", "ons"]\n\n[transports.relay]\ntype = "smtp"\nhost = "h"\nusername = "u"\npassword_file = "/etc/sysmail/secrets/r.pass"\n');
  assert.match(c.toml, /\[transports\."ons"\]\ntype = "stdout"/);
  assert.doesNotMatch(c.toml, /\[transports\."relay"\]/);
  assert.deepEqual(c.secretFiles, ['/etc/sysmail/secrets/r.pass']);
  assert.match(completeToml('[transports.x]\ntype = "stdout"\n').toml, /\[\[routes\]\]\ntransport = "x"/);
  assert.match(completeToml('topic_id = "ocid1.onstopic.oc1.fra.aaaa…"\n').toml, /aaaaexample/);
});

test('every fenced block in the docs has a language, and a skip names its reason', () => {
  assert.deepEqual(all.flatMap((d) => d.errors), []);
});

for (const { blocks } of all) {
  if (blocks.length === 0) continue;
  const file = blocks[0]!.file;
  test(`${file}: every sh and toml block runs`, async (t) => {
    assert.equal(process.geteuid?.(), 0, 'the doc test needs root (mount namespaces)');
    const sb = makeSandbox();
    t.after(() => rmSync(sb, { recursive: true, force: true }));
    let ran = 0;
    let skipped = 0;
    const failures: string[] = [];
    for (const [n, b] of blocks.entries()) {
      if (b.action.kind === 'skip') { skipped++; t.diagnostic(`skipped ${b.file}:${b.line} (${b.lang}): ${b.action.reason}`); continue; }
      if (b.action.kind === 'show') continue;
      const r = await runIn(sb, scriptFor(b, n));
      ran++;
      // Every broken block is reported, not only the first.
      if (r.code !== 0) failures.push(`${b.file}:${b.line} (${b.lang}) exited ${r.code}:\n${b.body}--- output ---\n${r.out.slice(-1500)}`);
    }
    t.diagnostic(`${file}: ran ${ran} block(s), skipped ${skipped}`);
    assert.equal(failures.length, 0, `${failures.length} doc block(s) failed:\n\n${failures.join('\n\n')}`);
  });
}

test('man/sysmail.toml.5 is what scripts/man.mjs makes from docs/CONFIG.md', async () => {
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const c = spawn(process.execPath, [join(repoRoot, 'scripts', 'man.mjs'), '--check'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { out += d; });
    c.on('close', (code) => resolve({ code, out }));
  });
  assert.equal(r.code, 0, `${r.out}fix: node scripts/man.mjs`);
});
