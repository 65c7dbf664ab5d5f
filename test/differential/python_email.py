#!/usr/bin/env python3
"""The reference side of test/differential.test.ts: Python 3's `email` package
(policy.default: headerregistry and the content manager) reads each case and
prints what it found, one JSON line per case, in order.

Input: JSON lines {"kind": "addr" | "words" | "mime", "input": str}; for
"mime" the input is the message's bytes as base64.
Output per case:
  addr:  {"addresses": [[username, domain], ...], "defects": ["Class: text", ...]}
  words: {"text": str, "defects": [...]}
  mime:  {"subject": str, "text": str | None}  (text: the first inline
         text/plain part, depth first, descending into message/rfc822;
         None when there is none)
  any:   {"error": "Class: text"} when Python raised.
Standard library only: Debian's python3 package is all it needs.
"""
import base64
import json
import sys
import email
from email import policy


def defects(h):
    return [type(d).__name__ + ': ' + str(d) for d in h.defects]


def first_plain(part):
    ct = part.get_content_type()
    if part.is_attachment():
        return None
    if ct.startswith('multipart/') or ct in ('message/rfc822', 'message/global'):
        if not part.is_multipart():
            return None
        for sub in part.iter_parts() if ct.startswith('multipart/') else part.get_payload():
            hit = first_plain(sub)
            if hit is not None:
                return hit
        return None
    return part if ct == 'text/plain' else None


def run(case):
    kind, data = case['kind'], case['input']
    if kind == 'addr':
        h = email.message_from_string('To: ' + data + '\n\n', policy=policy.default)['To']
        return {'addresses': [[a.username, a.domain] for a in h.addresses], 'defects': defects(h)}
    if kind == 'words':
        h = email.message_from_string('Subject: ' + data + '\n\n', policy=policy.default)['Subject']
        return {'text': str(h), 'defects': defects(h)}
    msg = email.message_from_bytes(base64.b64decode(data), policy=policy.default)
    subject = msg['subject']
    part = first_plain(msg)
    return {'subject': '' if subject is None else str(subject), 'text': None if part is None else part.get_content()}


def main():
    out = sys.stdout
    for line in sys.stdin:
        try:
            res = run(json.loads(line))
        except Exception as e:  # the case's verdict, not the script's failure
            res = {'error': type(e).__name__ + ': ' + str(e)}
        out.write(json.dumps(res, ensure_ascii=True) + '\n')
    out.flush()


if __name__ == '__main__':
    main()
