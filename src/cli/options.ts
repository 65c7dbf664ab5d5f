/**
 * A small, strict option parser for the sysmail subcommands (the sendmail
 * flags have their own parser in sendmail-args.ts). Unknown options are usage
 * errors; `--` ends options.
 */
import { usageError } from '../core/errors.js';

export interface OptionSpec {
  /** Long name without dashes; the key in the result. */
  [long: string]: { short?: string; value?: boolean; repeat?: boolean };
}

export type ParsedOptions = Record<string, string | string[] | boolean | undefined>;

/** Options every subcommand accepts. */
export const GLOBAL_OPTIONS: OptionSpec = {
  config: { short: 'C', value: true },
  spool: { value: true },
  verbose: { short: 'v' },
  help: { short: 'h' },
};

export function parseOptions(argv: string[], spec: OptionSpec, command: string): { opts: ParsedOptions; args: string[] } {
  const all: OptionSpec = { ...GLOBAL_OPTIONS, ...spec };
  const byShort = new Map(Object.entries(all).filter(([, s]) => s.short).map(([l, s]) => [s.short!, l]));
  const opts: ParsedOptions = {};
  const args: string[] = [];
  const set = (long: string, value: string | boolean) => {
    if (all[long]!.repeat) opts[long] = [...((opts[long] as string[] | undefined) ?? []), String(value)];
    else opts[long] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { args.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const long = a.slice(2, eq < 0 ? undefined : eq);
      const s = all[long];
      if (!s) throw usageError(`${command}: unknown option --${long}`, `run \`sysmail ${command} --help\``);
      if (s.value) {
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw usageError(`${command}: option --${long} needs a value`);
        set(long, v);
      } else {
        if (eq >= 0) throw usageError(`${command}: option --${long} takes no value`);
        set(long, true);
      }
    } else if (a.startsWith('-') && a.length > 1) {
      // Clustered short flags (-vq); a flag that takes a value consumes the rest or the next argument.
      for (let j = 1; j < a.length; j++) {
        const long = byShort.get(a[j]!);
        if (!long) throw usageError(`${command}: unknown option -${a[j]}`, `run \`sysmail ${command} --help\``);
        if (all[long]!.value) {
          const rest = a.slice(j + 1);
          const v = rest !== '' ? rest : argv[++i];
          if (v === undefined) throw usageError(`${command}: option -${a[j]} needs a value`);
          set(long, v);
          break;
        }
        set(long, true);
      }
    } else {
      args.push(a);
    }
  }
  return { opts, args };
}
