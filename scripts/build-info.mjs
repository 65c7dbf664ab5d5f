// Writes dist/build-info.json: the package version (package.json, the one source) and the commit
// the build was made from, for `sysmail --version` and the packages' provenance.
//
// The commit is `git rev-parse HEAD` (with "-dirty" when tracked files differ from it), or
// $SYSMAIL_COMMIT when building outside a git checkout (a source tarball); "unknown" otherwise.
// No timestamp: the same commit gives the same file (reproducible packages).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const outdir = resolve(process.argv.includes('--outdir') ? process.argv[process.argv.indexOf('--outdir') + 1] : 'dist');
const { name, version } = JSON.parse(readFileSync('package.json', 'utf8'));

function git(args) {
  try { return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; }
}

let commit = process.env.SYSMAIL_COMMIT || git(['rev-parse', 'HEAD']) || 'unknown';
if (!process.env.SYSMAIL_COMMIT && commit !== 'unknown' && git(['status', '--porcelain', '--untracked-files=no'])) commit += '-dirty';
writeFileSync(resolve(outdir, 'build-info.json'), JSON.stringify({ name, version, commit }, null, 2) + '\n');
console.log(`${resolve(outdir, 'build-info.json')}: ${name} ${version} (${commit})`);
