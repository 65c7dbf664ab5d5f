/**
 * Turns a peer's shell command string (esmtp preconnect/mda, msmtp
 * passwordeval) into an argv that sysmail can run without a shell.
 *
 * Guarantees: a command is split only when plain POSIX quoting explains it
 * completely; anything that needs a shell to mean what it says (pipes, `;`,
 * `&`, redirects, `$`, backquotes, globs, `~`, subshells, VAR=value prefixes,
 * comments) is reported instead, so the caller can wrap it in
 * ["/bin/sh", "-c", cmd] and tell the admin. Never throws.
 */

export interface SplitResult {
  /** The argv, or null when the command needs a shell. */
  argv: string[] | null;
  /** Why a shell is needed (for the warning), when argv is null. */
  reason?: string;
}

const OPERATORS: Record<string, string> = {
  '|': 'a pipe (|)',
  '&': 'a background or "&&" operator (&)',
  ';': 'a command separator (;)',
  '<': 'a redirect (<)',
  '>': 'a redirect (>)',
  '(': 'a subshell or function "("',
  ')': 'a subshell ")"',
  '\n': 'several lines',
};

/**
 * The one word splitter, in two modes. 'shell': as /bin/sh would, or why only a shell can run it.
 * 'literal': blanks, '...', "..." and backslashes only; every other character is itself (a
 * nullmailer password may hold "$"). An unbalanced quote is never guessed at in either.
 */
function scanWords(cmd: string, mode: 'shell' | 'literal'): SplitResult {
  const shell = mode === 'shell';
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const needShell = (reason: string): SplitResult => ({ argv: null, reason });
  // Inside "...": what a backslash escapes (sh also takes $ ` and a line break there).
  const dqEscapes = shell ? '$`"\\\n' : '"\\';

  while (i < cmd.length) {
    const ch = cmd[i]!;
    if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    if (shell) {
      if (ch in OPERATORS) return needShell(OPERATORS[ch]!);
      if (ch === '$') return needShell('a variable or command substitution ($)');
      if (ch === '`') return needShell('a command substitution (`...`)');
      if (ch === '*' || ch === '?' || ch === '[') return needShell(`a file-name pattern (${ch})`);
      if (!inWord && ch === '~') return needShell('a home-directory "~"');
      if (!inWord && ch === '#') return needShell('a comment (#)');
      if (ch === '=' && inWord && words.length === 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(cur)) {
        return needShell('an environment assignment (NAME=value)');
      }
    }
    if (ch === "'") {
      const end = cmd.indexOf("'", i + 1);
      if (end < 0) return needShell('an unbalanced single quote');
      cur += cmd.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (ch === '"') {
      i++;
      let closed = false;
      while (i < cmd.length) {
        const c = cmd[i]!;
        if (c === '"') { closed = true; i++; break; }
        if (shell && c === '$') return needShell('a variable or command substitution ($)');
        if (shell && c === '`') return needShell('a command substitution (`...`)');
        if (c === '\\' && i + 1 < cmd.length && dqEscapes.includes(cmd[i + 1]!)) {
          if (!(shell && cmd[i + 1] === '\n')) cur += cmd[i + 1];
          i += 2;
          continue;
        }
        cur += c;
        i++;
      }
      if (!closed) return needShell('an unbalanced double quote');
      inWord = true;
      continue;
    }
    if (ch === '\\' && i + 1 < cmd.length) {
      if (shell && cmd[i + 1] === '\n') { i += 2; continue; }
      cur += cmd[i + 1];
      inWord = true;
      i += 2;
      continue;
    }
    if (ch === '\\' && shell) return needShell('a trailing backslash');
    cur += ch;
    inWord = true;
    i++;
  }
  if (inWord) words.push(cur);
  if (shell && words.length === 0) return needShell('an empty command');
  return { argv: words };
}

/** Split `cmd` like /bin/sh would, or say why only a shell can run it. */
export function splitShellWords(cmd: string): SplitResult {
  return scanWords(cmd, 'shell');
}

/** The argv for a peer command: split when possible, else run through /bin/sh. */
export function commandArgv(cmd: string): { argv: string[]; shell: boolean; reason?: string } {
  const r = splitShellWords(cmd);
  if (r.argv) return { argv: r.argv, shell: false };
  return { argv: ['/bin/sh', '-c', cmd], shell: true, reason: r.reason };
}

/**
 * Splits on blanks, honouring '...', "..." and backslashes but giving no other
 * character a meaning (nullmailer's remotes lines: a password may hold "$").
 * Returns null for an unbalanced quote.
 */
export function splitQuoted(s: string): string[] | null {
  return scanWords(s, 'literal').argv;
}
