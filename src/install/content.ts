/**
 * The files install writes, as pure functions of their inputs: the shell
 * wrappers and the systemd units with ExecStart pointed at the daemon
 * wrapper. Kept pure so tests can compare them byte for byte.
 */
import { basename } from 'node:path';
import { WRAPPER_MARKER, WRAPPERS, type WrapperSpec } from '../system/layout.js';

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A wrapper execs node on the entry point with a fixed subcommand, so it
 * works whatever name it is called by (alternatives links, direct calls).
 */
export function wrapperScript(w: WrapperSpec, node: string, entry: string): string {
  return [
    '#!/bin/sh',
    `# ${WRAPPER_MARKER}: ${w.command ?? 'sysmail'}. Written by \`sysmail install\`; \`sysmail uninstall\` removes it.`,
    `exec ${sq(node)} ${sq(entry)}${w.command ? ` ${w.command}` : ''} "$@"`,
    '',
  ].join('\n');
}

/** Points every Exec*= line that runs `sysmail` at the daemon wrapper (SELinux: sendmail_exec_t). */
export function rewriteUnit(text: string, daemon: string = WRAPPERS.daemon.path): string {
  return text.split('\n').map((line) => {
    const m = /^(Exec[A-Za-z]*=)([-@:+!]*)(\S+)(.*)$/.exec(line);
    if (!m || basename(m[3]!) !== 'sysmail') return line;
    return `${m[1]}${m[2]}${daemon}${m[4]}`;
  }).join('\n');
}
