// Checks the packages npm run package made (out/), as CI does (.ci/run, scripts/test-all.sh):
//   1. lintian clean on the .deb, rpmlint clean on the .rpm, except the tags justified in
//      packaging/debian/lintian-overrides and packaging/rpm/sysmail.rpmlintrc;
//   2. the .rpm's file list, scriptlets and dependencies (rpm -qp --list --scripts --requires);
//   3. the .deb installed, used (cron-style mail queued and delivered to a smarthost on
//      127.0.0.1, sysmail doctor) and purged in a throwaway root (throwaway.sh), the MTA set-up
//      afterwards exactly as before;
//   4. the .rpm installed with rpm --root in a throwaway root, its bundle queuing and delivering;
//   5. the npm tarball installed offline with npm install -g into a temporary prefix.
// Needs root (mount namespaces). Exit 0 when all pass, 1 otherwise; says which step failed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const repo = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');
process.chdir(repo);
const out = resolve(process.argv[2] ?? 'out');
const { startSink } = await import(join(repo, 'build/test/helpers/smtp-sink.js'));
const here = join(repo, 'scripts', 'package');
const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
const deb = join(out, `sysmail_${version}_all.deb`);
const rpm = join(out, `sysmail-${version}-1.noarch.rpm`);
const failures = [];

async function step(name, fn) {
  process.stdout.write(`\n==== ${name}\n`);
  try { await fn(); console.log(`---- ok: ${name}`); } catch (e) { failures.push(name); console.log(`---- FAIL: ${name}: ${e.message}`); }
}
/** Async, so the smarthost in this process keeps answering while the child runs. */
function spawnInherit(cmd, args) {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { stdio: 'inherit' });
    c.on('error', rej);
    c.on('exit', (code, sig) => res(code ?? (sig ? 128 : 1)));
  });
}
function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return r;
}
const must = (cond, what) => { if (!cond) throw new Error(what); };

if (process.geteuid() !== 0) { console.error('scripts/package/check.mjs: needs root (mount namespaces for the throwaway roots); run it with sudo'); process.exit(77); }

await step('lintian (packaging/debian/lintian-overrides)', () => {
  const r = sh('lintian', ['--fail-on', 'error,warning', '--tag-display-limit', '0', deb]);
  process.stdout.write(r.stdout + r.stderr);
  must(r.status === 0, `lintian exit ${r.status}`);
});
await step('rpmlint (packaging/rpm/sysmail.rpmlintrc)', () => {
  const r = sh('rpmlint', ['-r', 'packaging/rpm/sysmail.rpmlintrc', rpm]);
  process.stdout.write(r.stdout + r.stderr);
  must(r.status === 0 && /0 errors, 0 warnings/.test(r.stdout), 'rpmlint reports errors or warnings');
});
await step('rpm -qp --list --scripts --requires', () => {
  const list = sh('rpm', ['-qp', '--list', rpm]).stdout.split('\n');
  const units = readdirSync('packaging/systemd').filter((u) => /\.(service|timer|path|socket)$/.test(u));
  for (const f of ['/usr/bin/sysmail', '/usr/sbin/sendmail.sysmail', '/usr/bin/mailq.sysmail', '/usr/bin/newaliases.sysmail',
    '/usr/libexec/sysmail/sysmail', '/usr/lib/sysmail/dist/sysmail.js', '/etc/sysmail/sysmail.toml', '/etc/sysmail/secrets',
    '/usr/share/selinux/packages/sysmail.pp', '/usr/share/man/man8/sysmail.8.gz', ...units.map((u) => `/usr/lib/systemd/system/${u}`)]) {
    must(list.includes(f), `${f} is not in the .rpm`);
  }
  must(!list.some((f) => f.endsWith('.v8cache')), 'the .rpm carries a V8 code cache made on the build machine');
  const cfg = sh('rpm', ['-qp', '--configfiles', rpm]).stdout;
  must(cfg.includes('/etc/sysmail/sysmail.toml'), 'sysmail.toml is not %config');
  const scripts = sh('rpm', ['-qp', '--scripts', rpm]).stdout;
  process.stdout.write(scripts);
  must(/postinstall scriptlet[\s\S]*sysmail install --package-mode/.test(scripts), '%post does not run sysmail install --package-mode');
  must(/preuninstall scriptlet[\s\S]*"\$1" -eq 0[\s\S]*sysmail uninstall --package-mode/.test(scripts), '%preun does not run sysmail uninstall --package-mode on erase');
  const req = sh('rpm', ['-qp', '--requires', rpm]).stdout;
  process.stdout.write(req);
  must(/^nodejs >= 1:20$/m.test(req), 'no Requires: nodejs >= 1:20');
  must(/^\/usr\/sbin\/alternatives$/m.test(req), 'no Requires(post): alternatives');
  must(!/^\/usr\/bin\/env/m.test(req), 'a script still runs /usr/bin/env');
});

await step('the npm tarball installs offline with npm install -g, no build step, no dev dependencies', () => {
  const prefix = mkdtempSync(join(tmpdir(), 'sysmail-npm-'));
  try {
    const tgz = join(out, `sysmail-${version}.tgz`);
    const r = sh('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, tgz]);
    process.stdout.write(r.stdout + r.stderr);
    must(r.status === 0, `npm install -g --offline exit ${r.status}`);
    const v = sh(join(prefix, 'bin', 'sysmail'), ['--version']);
    process.stdout.write(v.stdout + v.stderr);
    must(v.status === 0 && v.stdout.startsWith(`sysmail ${version} (commit `), 'sysmail --version from the tarball');
    const mods = readdirSync(join(prefix, 'lib', 'node_modules', 'sysmail', 'node_modules'));
    for (const dev of ['typescript', 'esbuild', '@types']) must(!mods.includes(dev), `${dev} (a dev dependency) was installed`);
  } finally { rmSync(prefix, { recursive: true, force: true }); }
});

const sink = await startSink({ tls: 'none' });
const dir = mkdtempSync(join(tmpdir(), 'sysmail-check-'));
writeFileSync(join(dir, 'sysmail.toml'), `[general]\nhostname = "web1.example.org"\nadmin = "ops@example.org"\n\n`
  + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${sink.port}\nsecurity = "none"\n`);
try {
  for (const [name, script, pkg, subject] of [
    ['the .deb in a throwaway root: install, cron mail, doctor, purge', 'try-deb.sh', deb, 'Cron <root@web1>'],
    ['the .rpm with rpm --root in a throwaway root: its bundle queues and delivers', 'try-rpm.sh', rpm, 'from the rpm bundle'],
  ]) {
    const before = sink.messages.length;
    await step(name, async () => {
      const code = await spawnInherit(join(here, 'throwaway.sh'), [join(here, script), pkg, join(dir, 'sysmail.toml')]);
      must(code === 0, `${script} exit ${code}`);
      await sink.waitFor(before + 1, 10_000).catch(() => {});
      const got = sink.messages.slice(before);
      must(got.length === 1, `the smarthost received ${got.length} message(s), not 1`);
      must(got[0].data.toString().includes(subject), `the delivered message is not the one sent (no "${subject}")`);
      console.log(`smarthost on 127.0.0.1:${sink.port} received: ${got[0].data.toString().split('\r\n').find((l) => l.startsWith('Subject:'))}`);
    });
  }
} finally {
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(failures.length ? `\nscripts/package/check.mjs: FAILED: ${failures.join('; ')}` : '\nscripts/package/check.mjs: all package checks passed');
process.exit(failures.length ? 1 : 0);
