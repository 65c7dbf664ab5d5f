/**
 * The differential test's seed corpus and its seeded mutator (no randomness from outside: the same
 * seed gives the same cases on every machine). Seeds are what sysadmins' mail actually holds —
 * cron, mailx, dnf-automatic, Japanese mailers — plus the malformed inputs of issue 14.
 */

/** mulberry32: a small, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const ADDR_SEEDS = [
  'root', 'root (Cron Daemon)', '"(Cron Daemon)" <root>', 'Cron Daemon <root@web1.example.com>',
  'a@b.example, c@d.example', 'a@b.example,c@d.example', '"Doe, John" <john@x.org>, jane@y.org',
  'john@x.org (John, Doe), jane@y.org (Jane (the) Doe)', 'undisclosed-recipients:;', 'friends: a@x.org, "B" <b@y.org>;, c@z.org',
  '=?UTF-8?Q?J=C3=B6rg?= <joerg@x.de>', '=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>', '"山田 太郎" <taro@example.jp>',
  '<@r1.example,@r2.example:u@d.example>', 'user@[192.0.2.1]', '"quoted local"@x.org', '"a@b"@c.example', '"q\\"x" <q@x.example>',
  'John Q. Public <j@x.org>', 'a @ b . c', 'a@b, , c@d', 'Müller <mueller@bücher.de>', 'ops+alerts@example.com',
  'taro..yamada.@docomo.ne.jp', 'a@b.example.', 'x@y.example (comment (nested))', '<a@b.example>',
  // Issue 14: malformed lists that were read as a guess.
  'Name <a@b.example> <c@d.example>', '<a@b.example> "x, c@d.example', 'To@exam:ple.com', 'john.doe@exam;ple.com',
  'user@exa>mple.com', 'a@b.example <c', 'John Smith', 'a@b@c.example',
];

const JA_SUBJECT = '=?iso-2022-jp?b?GyRCJTUhPCVQITwbKEIgd2ViMSAbJEIkTiVHJSMlOSUvO0hNUU4oJCwbKEI=?= '
  + '=?iso-2022-jp?b?GyRCb2dDTSRyRDYkKCReJDckPxsoQiAoOTUlKRskQiEjO2o1XjNOGyhC?= =?iso-2022-jp?b?GyRCRyckNyRGJC8kQCQ1JCQhIxsoQg==?=';

export const WORD_SEEDS = [
  JA_SUBJECT, '=?utf-8?b?44CQZG5mLWF1dG9tYXRpY+OAkSDmm7TmlrDjgYzjgYLjgorjgb7jgZk=?=',
  '=?iso-2022-jp?b?Y3JvbiA8cm9vdEB3ZWIxPiAbJEIlUCVDJS8lIiVDJVcbKEI=?=', '=?shift_jis?B?g2WDWINn?= backup', '=?cp932?B?g2WDWINn?=',
  '=?UTF-8?B?w6k=?=', '=?utf-8?q?caf=C3=A9?= au lait', 'plain ASCII subject', 'Cron <root@web1> /usr/local/bin/backup',
  '=?iso-8859-1?q?=E9t=E9?= =?utf-8?q?_x?=', '=?windows-1252?q?=93quoted=94_=80?=', '=?UTF-8?Q?a_b?= =?UTF-8?Q?_c?=',
  'prefix =?utf-8?q?mid?= suffix', '=?UTF-8?B?44GC?= =?UTF-8?B?44GE?=', '=?us-ascii?q?x?=', '=?EUC-JP?B?pcaluaXI?=',
  '=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?==?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=',
];

const JA_BODY_B64 = 'GyRCJUclIyU5JS87SE1RTigkLG9nQ00kckQ2JCgkXiQ3JD8hIxsoQgobJEIzTkcnJDckRiQvJEAkNSQkISMbKEIK';

export const MIME_SEEDS = [
  'From: root\nSubject: Fail event on /dev/md0\n\nA Fail event had been detected.\n',
  `Subject: ${JA_SUBJECT}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: base64\n\n${JA_BODY_B64}\n`,
  'Subject: =?utf-8?q?caf=C3=A9?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 =\nsoft break\n',
  'Subject: latin\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n=E9t=E9\n',
  'Subject: sjis\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: 8bit\n\n\x83\x65\x83\x58\x83\x67\n',
  'Subject: alt\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b1"\n\npreamble\n--b1\nContent-Type: text/plain; charset=utf-8\n\nPlain version\n--b1\nContent-Type: text/html\n\n<p>HTML</p>\n--b1--\n',
  'Subject: nested\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: text/plain; name=log.txt\nContent-Disposition: attachment; filename=log.txt\n\nATTACHED\n'
    + '--outer\nContent-Type: multipart/alternative; boundary="inner"\n\n--inner\nContent-Type: text/plain; charset="us-ascii"\n\nthe body\n--inner--\n--outer--\n',
  'Subject: Fwd\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/plain\n\nforwarded text\n--x--\n',
  'Subject: Digest\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst entry\n--d--\n',
  "Subject: 2231\nContent-Type: text/plain; charset*=us-ascii'en'iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n",
  'Subject: comments\nContent-Type: text/plain (plain text); charset="utf-8" (UTF-8)\nContent-Transfer-Encoding: base64 (b64)\n\nw6l0w6kK\n',
  'Subject: cp1252\nContent-Type: text/plain; charset=windows-1252\n\n\x93hi\x94 \x80\n',
  'Subject: b64\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQK\n',
];

const ALPHABETS = {
  addr: ['<', '>', '(', ')', '"', '\\', ',', ';', ':', '@', '.', '[', ']', ' ', 'a', 'Z', '=?', '?=', 'é', '\t'],
  words: ['=?', '?=', '?', '=', '_', ' ', 'B', 'Q', 'q', 'utf-8', 'iso-2022-jp', '\x1b', 'A', '/', '+', '==', 'é'],
  mime: ['\n', ':', ';', '=', '"', '-', '--', 'b', 'x', ' ', '\t', '(', ')', '*', "'", '%', 'Content-Type: ', 'base64', '\x1b$B', '\x80'],
};

/** One seed, changed one to three times (insert a token, delete, duplicate a slice, swap two characters). */
export function mutate(seeds: string[], kind: keyof typeof ALPHABETS, next: () => number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!;
  let s = pick(seeds);
  const n = 1 + Math.floor(next() * 3);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(next() * (s.length + 1));
    const op = next();
    if (op < 0.45) s = s.slice(0, at) + pick(ALPHABETS[kind]) + s.slice(at);
    else if (op < 0.75) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(next() * 3));
    else if (op < 0.9) s = s.slice(0, at) + s.slice(at, at + 8) + s.slice(at);
    else if (at + 1 < s.length) s = s.slice(0, at) + s[at + 1] + s[at] + s.slice(at + 2);
  }
  return s;
}
