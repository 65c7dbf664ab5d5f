/**
 * Routing: which route (and so which transports) a recipient takes.
 * Pure: a function of the recipient, the envelope sender and the ordered
 * [[routes]] list. The first route whose every given criterion matches wins;
 * a route without `match` matches everything.
 */
import type { RouteConfig, RouteMatch } from '../config/types.js';

export function splitAt(addr: string): { local: string; domain: string } {
  const at = addr.lastIndexOf('@');
  return at < 0 ? { local: addr, domain: '' } : { local: addr.slice(0, at), domain: addr.slice(at + 1) };
}

function domainMatches(domain: string, patterns: string[]): boolean {
  const d = domain.toLowerCase();
  return patterns.some((p) => {
    const q = p.toLowerCase();
    return q.startsWith('*.') ? d.endsWith(q.slice(1)) : d === q;
  });
}

function senderMatches(sender: string, patterns: string[]): boolean {
  const s = sender.toLowerCase();
  return patterns.some((p) => {
    const q = p.toLowerCase();
    if (q === '' || q === '<>') return s === '';
    if (q.startsWith('@')) return s.endsWith(q);
    return s === q;
  });
}

export function routeMatches(match: RouteMatch | null, rcpt: string, sender: string): boolean {
  if (!match) return true;
  const { local, domain } = splitAt(rcpt);
  if (match.domain && !domainMatches(domain, match.domain)) return false;
  if (match.local && !match.local.some((l) => l.toLowerCase() === local.toLowerCase())) return false;
  if (match.sender && !senderMatches(sender, match.sender)) return false;
  return true;
}

export function selectRoute(rcpt: string, sender: string, routes: RouteConfig[]): RouteConfig | null {
  return routes.find((r) => routeMatches(r.match, rcpt, sender)) ?? null;
}

/** Is this recipient delivered on this host (aliases apply)? */
export function isLocalRecipient(rcpt: string, localDomains: string[]): boolean {
  const { domain } = splitAt(rcpt);
  return domain === '' || localDomains.some((d) => d.toLowerCase() === domain.toLowerCase());
}
