/**
 * Reads an msmtprc the way msmtp's conf.c does: one command per line,
 * `#` comments only at the start of a line, the argument is the rest of the
 * line trimmed, with one pair of surrounding double quotes removed.
 *
 * Account semantics reproduced: `defaults` settings are copied into each
 * account when it is created (later `defaults` lines do not reach earlier
 * accounts); `account NAME : A, B` then applies what A and B set explicitly,
 * in order; commands before any `account` go to an implicit account named
 * "default". Each value keeps the line it came from, so warnings point at the
 * line that set it even when it was inherited.
 * Never throws; msmtp's syntax errors become warnings.
 */
import type { Notes } from './model.js';

export interface MSetting {
  value: string;
  line: number;
  /** Account the value came from ("defaults" for the defaults section). */
  from: string;
}

export interface MsmtpAccount {
  name: string;
  line: number;
  /** Everything in effect for the account. */
  effective: Map<string, MSetting>;
  /** What the account set itself or took from its parents (passed on to children). */
  explicit: Map<string, MSetting>;
}

export interface MsmtpRc {
  accounts: MsmtpAccount[];
  /** Commands set in `defaults` after the last account was created (they reach no account). */
  lateDefaults: { cmd: string; line: number }[];
}

function stripQuotes(s: string): string {
  const t = s.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

export function parseMsmtprc(text: string, notes: Notes): MsmtpRc {
  const accounts: MsmtpAccount[] = [];
  const defaults = new Map<string, MSetting>();
  let lateDefaults: { cmd: string; line: number }[] = [];
  let cur: MsmtpAccount | null = null;
  let inDefaults = false;
  // The settings of a skipped account land here and go nowhere (its warning says so).
  const skipped = (line: number): MsmtpAccount => ({ name: '(skipped)', line, effective: new Map(), explicit: new Map() });

  const lines = text.split('\n');
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    const l = raw.replace(/\r$/, '');
    const trimmed = l.replace(/^[ \t]+/, '');
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^(\S+)(.*)$/.exec(trimmed)!;
    const cmd = m[1]!;
    const arg = stripQuotes(m[2]!);

    if (cmd === 'defaults') {
      if (arg !== '') notes.warn(line, '"defaults" takes no argument: msmtp would reject the file; the argument was ignored');
      inDefaults = true;
      cur = null;
      return;
    }
    if (cmd === 'account') {
      inDefaults = false;
      let name = arg;
      const parents: string[] = [];
      const colon = arg.indexOf(':');
      if (colon >= 0) {
        name = stripQuotes(arg.slice(0, colon));
        for (const p of arg.slice(colon + 1).split(',')) parents.push(stripQuotes(p));
      }
      if (name === '' || /[:,]/.test(name)) {
        notes.warn(line, `"account ${arg}": missing or invalid account name; msmtp would reject the file, and this account was skipped`);
        cur = skipped(line);
        return;
      }
      if (accounts.some((a) => a.name === name)) {
        notes.warn(line, `account "${name}" is defined twice; msmtp would reject the file, and this second definition was skipped`);
        cur = skipped(line);
        return;
      }
      const acc: MsmtpAccount = { name, line, effective: new Map(defaults), explicit: new Map() };
      for (const p of parents) {
        const parent = accounts.find((a) => a.name === p);
        if (!parent) {
          notes.warn(line, `account "${name}" inherits from "${p}", which is not (yet) defined: msmtp would reject the file; nothing was inherited from it`);
          continue;
        }
        for (const [k, v] of parent.explicit) { acc.effective.set(k, v); acc.explicit.set(k, v); }
      }
      accounts.push(acc);
      cur = acc;
      lateDefaults = [];
      return;
    }
    const setting: MSetting = { value: arg, line, from: inDefaults ? 'defaults' : '' };
    if (inDefaults) {
      defaults.set(cmd, setting);
      lateDefaults.push({ cmd, line });
      return;
    }
    if (!cur) {
      // msmtp 1.2 compatibility: commands before any account make an account "default".
      cur = { name: 'default', line, effective: new Map(defaults), explicit: new Map() };
      accounts.push(cur);
      lateDefaults = [];
    }
    setting.from = cur.name;
    cur.effective.set(cmd, setting);
    cur.explicit.set(cmd, setting);
  });
  return { accounts, lateDefaults };
}
