// npm run package: the packages an admin installs, from the build in dist/ (npm run build first),
// offline: out/sysmail-VERSION-1.noarch.rpm (rpmbuild), out/sysmail_VERSION_all.deb (dpkg-deb)
// and out/sysmail-VERSION.tgz (npm pack; installs with `npm install -g` offline, no build step).
//
// One file tree is staged for both system packages, from the same code `sysmail install` uses
// (build/src/install: the wrappers, the unit rewrite, the paths), so the packaged files are
// byte for byte what `sysmail install` would write. Every unit in packaging/systemd is included.
// The code cache (dist/*.v8cache) is left out: it is specific to the CPU, the Node version and
// V8's flags, so the scriptlets make it on the target (`sysmail cache rebuild`).
//
//   node scripts/package/package.mjs [--only deb|rpm|tgz]... [--outdir DIR]
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { debianChangelog, parseChangelog, rpmChangelog } from './changelog.mjs';

const repo = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');
process.chdir(repo);
const argv = process.argv.slice(2);
const only = argv.flatMap((a, i) => (a === '--only' ? [argv[i + 1]] : []));
const want = (k) => only.length === 0 || only.includes(k);
const outdir = resolve(argv.includes('--outdir') ? argv[argv.indexOf('--outdir') + 1] : 'out');

function fail(msg, fix) {
  console.error(`npm run package: ${msg}${fix ? `\n  fix: ${fix}` : ''}`);
  process.exit(69); // EX_UNAVAILABLE
}
function run(cmd, args, opts = {}) {
  try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }); } catch (e) {
    if (e.code === 'ENOENT') fail(`${cmd} is not installed`, `apt-get install ${TOOL_PACKAGE[cmd] ?? cmd}`);
    fail(`${cmd} ${args.join(' ')} failed:\n${e.stderr || e.stdout || e.message}`);
  }
}
const TOOL_PACKAGE = { rpmbuild: 'rpm', 'dpkg-deb': 'dpkg', fakeroot: 'fakeroot', make: 'make', checkmodule: 'checkpolicy' };

// ---- inputs -----------------------------------------------------------------------------------
const pkgJson = JSON.parse(readFileSync('package.json', 'utf8'));
if (!existsSync('dist/build-info.json') || !existsSync('build/src/install/content.js')) fail('no build in dist/ and build/', 'npm run build');
const info = JSON.parse(readFileSync('dist/build-info.json', 'utf8'));
if (info.version !== pkgJson.version) fail(`dist/ is version ${info.version}, package.json says ${pkgJson.version}`, 'npm run build');
const { version, commit } = info;
const maintainer = pkgJson.author;
if (!/^[^<>]+ <[^<>@\s]+@[^<>\s]+>$/.test(maintainer ?? '')) fail('package.json "author" must be "Name <email>" (the packages\' maintainer)');
const releases = parseChangelog(readFileSync('CHANGELOG.md', 'utf8'));
if (releases[0].version !== version) fail(`CHANGELOG.md's newest release is ${releases[0].version}, package.json says ${version}`, `add a "## ${version} (YYYY-MM-DD)" section to CHANGELOG.md`);
const { wrapperScript, rewriteUnit } = await import(join(repo, 'build/src/install/content.js'));
const { WRAPPERS, MAN_PAGES, CONFIG_FILE, SECRETS_DIR, CONFIG_DIR, SELINUX_MODULE } = await import(join(repo, 'build/src/system/layout.js'));

const LIB = '/usr/lib/sysmail';
const ENTRY = `${LIB}/dist/sysmail.js`;
const NODE = '/usr/bin/node';
const UNIT_GLOB = /\.(service|timer|path|socket)$/;

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'sysmail-package-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// ---- the runtime: the bundle plus the packages it leaves external -----------------------------
/** Production dependencies as npm resolved them (nested ones come with their parent). */
function runtimeModules() {
  const lines = run('npm', ['ls', '--omit=dev', '--all', '--parseable']).trim().split('\n');
  const base = join(repo, 'node_modules') + '/';
  return lines.filter((p) => p.startsWith(base)).map((p) => p.slice(base.length)).filter((p) => !p.includes('/node_modules/'));
}
const DOC_FILE = /^(README|CHANGELOG|SECURITY|HISTORY)(\.|$)|\.(md|markdown|ts|map)$/i;
function copyRuntime(dest) {
  cpSync('dist', join(dest, 'dist'), {
    recursive: true,
    filter: (src) => !/\.(v8cache|map)$/.test(src),
  });
  for (const f of readdirSync(join(dest, 'dist'), { recursive: true })) {
    const p = join(dest, 'dist', f);
    if (statSync(p).isFile()) chmodSync(p, 0o644);
  }
  chmodSync(join(dest, 'dist', 'sysmail.js'), 0o755); // a script (#!); the wrappers run it with /usr/bin/node
  for (const m of runtimeModules()) {
    cpSync(join('node_modules', m), join(dest, 'node_modules', m), {
      recursive: true, dereference: true,
      filter: (src) => !DOC_FILE.test(basename(src)) || statSync(src).isDirectory(),
    });
  }
  writeFileSync(join(dest, 'package.json'), JSON.stringify({ name: 'sysmail', version, private: true, description: pkgJson.description, license: pkgJson.license }, null, 2) + '\n');
  cpSync('packaging/selinux', join(dest, 'packaging', 'selinux'), { recursive: true });
}

// ---- the SELinux module, compiled once ----------------------------------------------------------
function selinuxModule() {
  const mk = '/usr/share/selinux/devel/Makefile';
  if (!existsSync(mk)) fail(`${mk} is missing: the SELinux policy module cannot be compiled`, 'apt-get install selinux-policy-dev checkpolicy semodule-utils make m4');
  const d = join(work, 'selinux');
  cpSync('packaging/selinux', d, { recursive: true });
  run('make', ['-f', mk, 'sysmail.pp'], { cwd: d });
  return readFileSync(join(d, 'sysmail.pp'));
}

// ---- the file tree both system packages ship ----------------------------------------------------
function put(root, path, content, mode) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
  chmodSync(join(root, path), mode);
}
function stageSystem(root, unitDir, pp) {
  copyRuntime(join(root, LIB));
  // The system's node, not whichever `env` finds first in PATH (rpmlint, Debian policy 10.4).
  const launcher = join(root, ENTRY);
  writeFileSync(launcher, readFileSync(launcher, 'utf8').replace(/^#!\/usr\/bin\/env node\n/, `#!${NODE}\n`));
  put(root, '/usr/bin/sysmail', wrapperScript({ path: '/usr/bin/sysmail', command: null }, NODE, ENTRY), 0o755);
  for (const w of Object.values(WRAPPERS)) put(root, w.path, wrapperScript(w, NODE, ENTRY), 0o755);
  for (const unit of readdirSync('packaging/systemd').filter((u) => UNIT_GLOB.test(u)).sort()) {
    put(root, join(unitDir, unit), rewriteUnit(readFileSync(join('packaging/systemd', unit), 'utf8')), 0o644);
  }
  for (const m of MAN_PAGES) put(root, `/usr/share/man/${m.section}/${m.file}.gz`, gzipSync(readFileSync(join('man', m.file)), { level: 9 }), 0o644);
  // The wrappers' names have the page of the program they stand for.
  for (const name of ['sendmail.sysmail.8.gz', 'mailq.sysmail.8.gz', 'newaliases.sysmail.8.gz']) symlinkSync('sysmail-sendmail.8.gz', join(root, '/usr/share/man/man8', name));
  put(root, CONFIG_FILE, readFileSync('etc/sysmail.toml.example'), 0o644);
  mkdirSync(join(root, SECRETS_DIR), { recursive: true });
  chmodSync(join(root, CONFIG_DIR), 0o755);
  chmodSync(join(root, SECRETS_DIR), 0o700);
  put(root, SELINUX_MODULE, pp, 0o644);
  put(root, '/usr/share/doc/sysmail/README.md', readFileSync('README.md'), 0o644);
  put(root, '/usr/share/doc/sysmail/copyright', readFileSync('packaging/debian/copyright'), 0o644);
  // Every directory 0755 except the secrets (umask-independent packages).
  for (const d of readdirSync(root, { recursive: true }).map((f) => join(root, f))) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (st?.isDirectory() && !d.endsWith(SECRETS_DIR)) chmodSync(d, 0o755);
  }
}

function duKiB(dir) { return run('du', ['-sk', '--apparent-size', dir]).split('\t')[0]; }

// ---- .deb ---------------------------------------------------------------------------------------
function buildDeb(pp) {
  const root = join(work, 'deb');
  stageSystem(root, '/lib/systemd/system', pp);
  put(root, '/usr/share/doc/sysmail/changelog.gz', gzipSync(debianChangelog(releases, 'sysmail', maintainer), { level: 9 }), 0o644);
  put(root, '/usr/share/lintian/overrides/sysmail', readFileSync('packaging/debian/lintian-overrides'), 0o644);
  const control = readFileSync('packaging/debian/control.in', 'utf8')
    .replace('@VERSION@', version).replace('@MAINTAINER@', maintainer).replace('@SIZE@', duKiB(root)).replace('@COMMIT@', commit);
  put(root, '/DEBIAN/control', control, 0o644);
  put(root, '/DEBIAN/conffiles', `${CONFIG_FILE}\n`, 0o644);
  for (const s of ['postinst', 'prerm', 'postrm']) put(root, `/DEBIAN/${s}`, readFileSync(join('packaging/debian', s)), 0o755);
  const sums = readdirSync(root, { recursive: true }).filter((f) => !f.startsWith('DEBIAN') && lstatSync(join(root, f)).isFile())
    .sort().map((f) => `${createHash('md5').update(readFileSync(join(root, f))).digest('hex')}  ${f}`);
  put(root, '/DEBIAN/md5sums', sums.join('\n') + '\n', 0o644);
  const out = join(outdir, `sysmail_${version}_all.deb`);
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], { env: { ...process.env, SOURCE_DATE_EPOCH: String(releases[0].date.getTime() / 1000) } });
  return out;
}

// ---- .rpm ---------------------------------------------------------------------------------------
function buildRpm(pp) {
  const root = join(work, 'rpm-stage');
  stageSystem(root, '/usr/lib/systemd/system', pp);
  const top = join(work, 'rpmbuild');
  for (const d of ['BUILD', 'RPMS', 'SOURCES', 'SPECS', 'SRPMS', 'BUILDROOT']) mkdirSync(join(top, d), { recursive: true });
  const spec = readFileSync('packaging/rpm/sysmail.spec.in', 'utf8')
    .replaceAll('@VERSION@', version).replaceAll('@COMMIT@', commit).replaceAll('@MAINTAINER@', maintainer).replaceAll('@STAGE@', root)
    .replace('\n@CHANGELOG@\n', `\n${rpmChangelog(releases, maintainer)}`);
  writeFileSync(join(top, 'SPECS', 'sysmail.spec'), spec);
  run('rpmbuild', ['-bb', '--define', `_topdir ${top}`, '--define', '_binary_payload w6.xzdio', '--define', '_buildhost sysmail-build',
    '--define', 'source_date_epoch_from_changelog 1', '--define', '_source_date_epoch_from_changelog 1', '--define', 'use_source_date_epoch_as_buildtime 1',
    '--define', 'clamp_mtime_to_source_date_epoch 1', join(top, 'SPECS', 'sysmail.spec')]);
  const built = join(top, 'RPMS', 'noarch', `sysmail-${version}-1.noarch.rpm`);
  const out = join(outdir, basename(built));
  cpSync(built, out);
  return out;
}

// ---- the npm tarball ----------------------------------------------------------------------------
function buildTgz() {
  const root = join(work, 'npm', 'sysmail');
  copyRuntime(root);
  chmodSync(join(root, 'dist', 'sysmail.js'), 0o755);
  for (const d of ['etc', 'man', 'packaging', 'docs']) cpSync(d, join(root, d), { recursive: true });
  cpSync('README.md', join(root, 'README.md'));
  cpSync('CHANGELOG.md', join(root, 'CHANGELOG.md'));
  // No scripts (no prepare/build on install), no devDependencies; the runtime packages ride inside.
  const deps = Object.fromEntries(Object.keys(pkgJson.dependencies).filter((d) => existsSync(join(root, 'node_modules', d))).map((d) => [d, pkgJson.dependencies[d]]));
  writeFileSync(join(root, 'package.json'), JSON.stringify({
    name: 'sysmail', version, description: pkgJson.description, license: pkgJson.license, author: maintainer,
    engines: pkgJson.engines, bin: pkgJson.bin, files: ['dist', 'etc', 'man', 'packaging', 'docs', 'CHANGELOG.md'],
    dependencies: deps, bundleDependencies: Object.keys(deps), sysmail: { commit },
  }, null, 2) + '\n');
  const name = run('npm', ['pack', '--silent', '--pack-destination', outdir], { cwd: root }).trim().split('\n').pop();
  return join(outdir, name);
}

const pp = (want('deb') || want('rpm')) ? selinuxModule() : null;
const made = [];
if (want('deb')) made.push(buildDeb(pp));
if (want('rpm')) made.push(buildRpm(pp));
if (want('tgz')) made.push(buildTgz());
for (const f of made) console.log(`${relative(repo, f)}  (${Math.round(statSync(f).size / 1024)} KiB)  sysmail ${version}, commit ${commit}`);
