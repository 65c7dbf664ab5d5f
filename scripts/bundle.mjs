// Bundles the CLI into dist/ for a lean start-up: one entry file plus lazily
// loaded chunks. Runtime dependencies (nodemailer, smtp-server, smol-toml) stay
// external and are imported only by the code paths that need them.
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: { sysmail: 'src/cli/main.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  banner: { js: '#!/usr/bin/env node' },
  sourcemap: 'linked',
  logLevel: 'warning',
});
chmodSync('dist/sysmail.js', 0o755);
