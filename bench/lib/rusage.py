#!/usr/bin/env python3
"""Runs commands for bench/*.mjs and reports wall time, CPU time and peak RSS of each.

One JSON request per stdin line: {"argv": [...], "env": {...}, "stdin": "path or null"}.
One JSON reply per line: {"rc", "wall_ms", "user_ms", "sys_ms", "maxrss_kib"}.
os.posix_spawn + os.wait4 (no shell, as the shared harness does), so the rusage is the child's own
and that of the children it waited for; wall time is spawn to reaped, with a monotonic clock.
A detached grandchild (sendmail's background flush) is not waited for and is not counted.
"""
import json, os, sys, time

def run(req):
    fd_in = os.open(req.get('stdin') or '/dev/null', os.O_RDONLY)
    fd_null = os.open('/dev/null', os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, fd_in, 0), (os.POSIX_SPAWN_DUP2, fd_null, 1)]
    if req.get('quiet_stderr'):
        actions.append((os.POSIX_SPAWN_DUP2, fd_null, 2))
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(req['argv'][0], req['argv'], req['env'], file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    os.close(fd_in); os.close(fd_null)
    return {'rc': os.waitstatus_to_exitcode(status), 'wall_ms': (t1 - t0) / 1e6,
            'user_ms': ru.ru_utime * 1000, 'sys_ms': ru.ru_stime * 1000, 'maxrss_kib': ru.ru_maxrss}

for line in sys.stdin:
    if line.strip():
        sys.stdout.write(json.dumps(run(json.loads(line))) + '\n')
        sys.stdout.flush()
