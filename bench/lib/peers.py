#!/usr/bin/env python3
"""Side-by-side benchmark of sendmail-compatible agents against an SMTP sink.

sysmail's copy of the shared peer harness (/work/shared/bench/lib/bench.py, read-only), run by
bench/peers.sh. Same method and output; additions, all marked "sysmail:" below:
  - several sysmail agents from a JSON file ($SYSMAIL_AGENTS), each with its own config, spool
    and optional daemon, and the phases it takes part in;
  - agents that submit over SMTP to a listener (`smtp_port`) instead of spawning a command:
    latency is then connect -> 250 after the final dot, and the burst sends all N messages over
    --smtp-conns connections, each reused (smtplib, the body and the dot in one write);
  - the Node floor (`node -e 0`) in the burst phase, so a burst through sendmail can be compared
    with N bare Node start-ups of the same run;
  - daemon memory when idle (after start, and after the smoke message), not only after the burst;
  - per-file byte counts in the strace phase (spool file, log, state) and a ram-mode agent;
  - device counters read from the device that holds /var/spool, which bench/lib/ns-loop.sh makes
    a loop device of its own (BENCH_LOOP=1), so other tenants' writes do not count.

Runs inside the mount namespace made by ns.sh (run.sh takes care of that).
Python 3 standard library only. Every agent is started without a shell, as
`AGENT -t < msg`, with os.posix_spawn, and reaped with os.wait4, which gives:
  wall time   perf_counter just before the spawn and just after the reap
  peak RSS    ru_maxrss of wait4: the largest single process among the agent
              and the descendants it waited for (not a sum)
Phases (all agents interleaved round by round, start position rotated):
  latency   one submission per agent per round; after each, wait until the
            sink has the message and the agent's queue is empty again
  burst     N submissions back to back; time until the sink has all N
  disk      separate pass under strace -ff: bytes written to regular files,
            fsync-family calls and O_CREAT opens, per message, submitter and
            daemons together
  outage    sink stopped, one message per agent, sink restarted after
            --down seconds; whether and when each message arrives
"""
import argparse
import ctypes
import glob
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
P = os.environ.get('PEERS_DIR', '/opt/peers')
RUN = os.path.join(P, 'state', 'run')          # tmpfs inside the namespace
STRACE = shutil.which('strace') or '/usr/bin/strace'
GNU_TIME = '/usr/bin/time'
SPOOL = '/var/spool'                             # bind of $P/state/spool


def log(*a):
    print(time.strftime('%H:%M:%S'), *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# process helpers

def set_subreaper():
    """Orphans (dma's background deliverer) are re-parented to us, so we can
    find and stop them by PID and they do not linger as zombies."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def children(pid):
    out = []
    for t in glob.glob(f'/proc/{pid}/task/*/children'):
        try:
            out += [int(x) for x in open(t).read().split()]
        except OSError:
            pass
    return out


def descendants(pid):
    res, stack = [], [pid]
    while stack:
        p = stack.pop()
        for c in children(p):
            res.append(c)
            stack.append(c)
    return res


def proc_state(pid):
    try:
        s = open(f'/proc/{pid}/stat').read()
        return s[s.rindex(')') + 2]
    except OSError:
        return None


class Owned:
    """PIDs of the long-lived children we started (sink, daemons)."""
    pids = set()


def reap_strays():
    """Reap zombie children that are not ours (re-parented orphans)."""
    for c in children(os.getpid()):
        if c in Owned.pids:
            continue
        if proc_state(c) == 'Z':
            try:
                os.waitpid(c, os.WNOHANG)
            except ChildProcessError:
                pass


def live_strays():
    return [c for c in children(os.getpid())
            if c not in Owned.pids and proc_state(c) not in (None, 'Z')]


def kill_pid(pid, timeout=10.0):
    """SIGTERM one PID we started, wait, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.time() + timeout
    while time.time() < end:
        try:
            r, _ = os.waitpid(pid, os.WNOHANG)
            if r == pid:
                return
        except ChildProcessError:
            if proc_state(pid) is None:
                return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def spawn_wait(argv, stdin_path, log_path, env=None):
    """Start argv without a shell, stdin from a file; return
    (wall_s, maxrss_kib, exitcode, t_start)."""
    fa = [(os.POSIX_SPAWN_OPEN, 0, stdin_path, os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
          (os.POSIX_SPAWN_DUP2, 1, 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env if env is not None else os.environ, file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter()
    return t1 - t0, ru.ru_maxrss, os.waitstatus_to_exitcode(status), t0


# sysmail: SMTP submission to a listener ----------------------------------

def _smtp_payload(msg_path):
    data = open(msg_path, 'rb').read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    return data


def smtp_submit(port, payload, n=1, conns=1):
    """Send n messages over `conns` connections to 127.0.0.1:port, each connection reused for
    its share. Returns (seconds from the first connect to the last 250, failures, t0)."""
    import smtplib
    import threading
    shares = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]
    fails = [0]
    lock = threading.Lock()

    def worker(k):
        try:
            c = smtplib.SMTP('127.0.0.1', port, local_hostname='bench.example.org', timeout=60)
            c.sock.setsockopt(__import__('socket').IPPROTO_TCP, __import__('socket').TCP_NODELAY, 1)
            c.ehlo()
            for _ in range(k):
                try:
                    c.sendmail('sender@example.org', ['rcpt@example.net'], payload)
                except smtplib.SMTPException:
                    with lock:
                        fails[0] += 1
            c.quit()
        except (OSError, smtplib.SMTPException):
            with lock:
                fails[0] += k

    t0 = time.perf_counter()
    if conns == 1:
        worker(shares[0])
    else:
        ts = [threading.Thread(target=worker, args=(k,)) for k in shares if k]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return time.perf_counter() - t0, fails[0], t0


def start_bg(argv, log_path, env=None):
    out = open(log_path, 'ab')
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         env=env)
    out.close()
    Owned.pids.add(p.pid)
    return p.pid


# --------------------------------------------------------------------------
# sink

class Sink:
    """postfix's smtp-sink on 127.0.0.1:port; -c prints 'mesg=N' counters to a
    file on tmpfs after every message, which count() reads."""

    def __init__(self, port):
        self.port = port
        self.pid = None
        self.offset = 0          # messages counted by earlier sink processes
        self.n = 0
        self.fh = None

    def start(self, dump_dir=None):
        self.n += 1
        self.cfile = os.path.join(RUN, f'sink-{self.n}.out')
        argv = ['/usr/sbin/smtp-sink', '-4', '-c', '-u', 'nobody']
        if dump_dir:
            os.makedirs(dump_dir, exist_ok=True)
            os.chmod(dump_dir, 0o777)
            argv += ['-d', os.path.join(dump_dir, '%H%M%S.')]
        argv += [f'127.0.0.1:{self.port}', '256']
        self.pid = start_bg(argv, self.cfile)
        self.fh = open(self.cfile, 'rb')
        # wait until it accepts connections
        import socket
        end = time.time() + 10
        while time.time() < end:
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.2).close()
                break
            except OSError:
                if proc_state(self.pid) in (None, 'Z'):
                    raise SystemExit(f'smtp-sink failed to start: {open(self.cfile).read()}')
                time.sleep(0.02)
        # our probe connection is a session, not a message
        self.t_up = time.time()

    def _read(self):
        self.fh.seek(0, os.SEEK_END)
        size = self.fh.tell()
        self.fh.seek(max(0, size - 256))
        m = re.findall(rb'mesg=(\d+)', self.fh.read())
        return int(m[-1]) if m else 0

    def count(self):
        return self.offset + (self._read() if self.pid else 0)

    def stop(self):
        if self.pid:
            c = self._read()
            kill_pid(self.pid)
            Owned.pids.discard(self.pid)
            self.offset += c
            self.pid = None
            self.fh.close()

    def wait_count(self, target, timeout, poll=0.002):
        end = time.perf_counter() + timeout
        while True:
            c = self.count()
            if c >= target:
                return time.perf_counter()
            if time.perf_counter() > end:
                return None
            time.sleep(poll)


# --------------------------------------------------------------------------
# agents

class Agent:
    def __init__(self, name, argv, kind, daemon=None, queue_dirs=(), tflag=True, note='',
                 smtp_port=None, phases=None):
        self.name, self.argv, self.kind = name, argv, kind
        self.smtp_port = smtp_port      # sysmail: submit over SMTP to 127.0.0.1:smtp_port
        self.phases = phases            # sysmail: None = every phase
        self.daemon = daemon            # argv of a daemon to run alongside, or None
        self.queue_dirs = queue_dirs    # must be empty before the next run
        self.tflag = tflag
        self.note = note
        self.dpid = None                # daemon pid (the real daemon, not strace)
        self.spid = None                # strace pid when traced

    @property
    def delivers(self):
        return self.kind in ('direct', 'queue')

    def cmd(self):
        return self.argv + (['-t'] if self.tflag else [])


def builtin_agents(floor_dir):
    node = shutil.which('node') or 'node'
    pf_q = [f'{SPOOL}/postfix/{d}' for d in ('maildrop', 'incoming', 'active', 'deferred', 'hold')]
    a = [
        Agent('msmtp', ['/usr/bin/msmtp', '-C', f'{P}/conf/msmtprc'], 'direct'),
        Agent('esmtp', ['/usr/bin/esmtp', '-C', f'{P}/conf/esmtprc'], 'direct'),
        Agent('ssmtp', ['/usr/sbin/ssmtp', f'-C{P}/conf/ssmtp.conf'], 'direct'),
        Agent('dma', ['/usr/sbin/dma'], 'queue', queue_dirs=[f'{SPOOL}/dma'],
              note='spools, forks a background deliverer, exits'),
        Agent('nullmailer', [f'{P}/pkg/nullmailer/usr/sbin/sendmail'], 'queue',
              daemon=['setpriv', '--reuid=mail', '--regid=mail', '--clear-groups',
                      '/usr/sbin/nullmailer-send'],
              queue_dirs=[f'{SPOOL}/nullmailer/queue', f'{SPOOL}/nullmailer/tmp'],
              note='sendmail -> nullmailer-inject -> nullmailer-queue; nullmailer-send daemon'),
        Agent('postfix', [f'{P}/pkg/postfix/usr/sbin/sendmail'], 'queue',
              daemon=['/usr/lib/postfix/sbin/master', '-c', '/etc/postfix', '-d'],
              queue_dirs=pf_q, note='sendmail -> postdrop; master/pickup/cleanup/qmgr/smtp'),
    ]
    # sysmail: several agents, from a JSON list (bench/peers.sh writes it)
    for spec in (json.load(open(os.environ['SYSMAIL_AGENTS'])) if os.environ.get('SYSMAIL_AGENTS') else []):
        a.append(Agent(spec['name'], spec.get('argv') or ['/bin/true'], spec.get('kind', 'queue'),
                       daemon=spec.get('daemon'), queue_dirs=spec.get('queue_dirs', []),
                       tflag=spec.get('tflag', True), note=spec.get('note', ''),
                       smtp_port=spec.get('smtp_port'), phases=spec.get('phases')))
    s = os.environ.get('SYSMAIL_SENDMAIL')
    if s:
        kind = 'queue' if os.environ.get('SYSMAIL_QUEUEING', '1') == '1' else 'direct'
        d = os.environ.get('SYSMAIL_DAEMON')
        qd = [x for x in os.environ.get('SYSMAIL_QUEUE_DIR', '').split(':') if x]
        a.append(Agent('sysmail', shlex.split(s), kind, daemon=shlex.split(d) if d else None,
                       queue_dirs=qd, note='SYSMAIL_SENDMAIL'))
    floors = [
        Agent('floor:true', ['/bin/true'], 'floor', tflag=False, note='process spawn floor'),
        Agent('floor:node-e0', [node, '-e', '0'], 'floor', tflag=False, note='node -e 0'),
        Agent('floor:node-write-fsync', [node, os.path.join(HERE, 'floor-write.cjs'), floor_dir],
              'floor', tflag=False, note='node: new file, write 2 KB, fsync'),
        Agent('floor:node-write-fsync-dir', [node, os.path.join(HERE, 'floor-write.cjs'), floor_dir,
                                             '--dirsync'],
              'floor', tflag=False, note='same + fsync of the directory'),
    ]
    return a, floors


def resolve(agent):
    exe = agent.argv[0]
    if '/' not in exe:
        w = shutil.which(exe)
        if not w:
            raise SystemExit(f'{agent.name}: {exe} not found')
        agent.argv = [w] + agent.argv[1:]


def start_daemon(agent, trace_prefix=None, trace_set=None, tries=3):
    for i in range(tries):
        try:
            return _start_daemon(agent, trace_prefix, trace_set)
        except RuntimeError as e:
            log(f'warning: {e}; retrying')
            stop_daemon(agent)
            time.sleep(1)
    raise SystemExit(f'{agent.name}: daemon would not start')


def _start_daemon(agent, trace_prefix=None, trace_set=None):
    if not agent.daemon:
        return
    lp = os.path.join(RUN, f'{agent.name}.daemon.log')
    if trace_prefix:
        argv = [STRACE, '-ff', '-y', '-ttt', '-qq', '-e', f'trace={trace_set}', '-o', trace_prefix] + agent.daemon
        agent.spid = start_bg(argv, lp)
        end = time.time() + 5
        while time.time() < end and not children(agent.spid):
            time.sleep(0.01)
        if not children(agent.spid):
            raise RuntimeError(f'{agent.name}: strace started no daemon')
        agent.dpid = children(agent.spid)[0]
    else:
        agent.spid = None
        agent.dpid = start_bg(agent.daemon, lp)
    time.sleep(1.0)   # let it create sockets / open the trigger
    if proc_state(agent.dpid) in (None, 'Z'):
        raise RuntimeError(f'{agent.name} daemon died (pid {agent.dpid}, strace {agent.spid} '
                         f'state {proc_state(agent.spid) if agent.spid else "-"}): {open(lp).read()[-600:]}')


def alive(pid):
    return proc_state(pid) not in (None, 'Z')


def stop_daemon(agent):
    """Stop the daemon (SIGTERM by PID), wait for it and every process of its
    tree to be gone (SIGKILL by PID after 10 s), then its strace, if any."""
    if not agent.daemon or not (agent.dpid or agent.spid):
        return
    tree = set(descendants(agent.spid or agent.dpid))
    if agent.dpid:
        tree.add(agent.dpid)
    tree.discard(agent.spid)
    if agent.dpid:
        try:
            os.kill(agent.dpid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.time() + 10
    while time.time() < end:
        for p in (agent.dpid, agent.spid):
            if p:
                try:
                    os.waitpid(p, os.WNOHANG)
                except ChildProcessError:
                    pass
        reap_strays()
        if not any(alive(p) for p in tree):
            break
        time.sleep(0.02)
    for p in tree:
        if alive(p):
            log(f'{agent.name}: SIGKILL to {p}')
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if agent.spid:
        end = time.time() + 5
        while time.time() < end and alive(agent.spid):
            time.sleep(0.02)
        kill_pid(agent.spid)
    for p in (agent.dpid, agent.spid):
        if p:
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass
    reap_strays()
    Owned.pids.discard(agent.dpid)
    Owned.pids.discard(agent.spid)
    agent.dpid = agent.spid = None


def daemon_mem(agent):
    """RSS and PSS (KiB) summed over the daemon's process tree."""
    if not agent.dpid:
        return None
    pids = [agent.dpid] + descendants(agent.dpid)
    rss = pss = 0
    for p in pids:
        try:
            for line in open(f'/proc/{p}/smaps_rollup'):
                if line.startswith('Rss:'):
                    rss += int(line.split()[1])
                elif line.startswith('Pss:'):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return {'procs': len(pids), 'rss_kib': rss, 'pss_kib': pss}


def queue_files(agent):
    n = 0
    for d in agent.queue_dirs:
        for root, _, files in os.walk(d):
            n += len(files)
    return n


def settle(agent, timeout=10.0):
    """Wait until the agent's queue is empty and no orphan of it still runs."""
    end = time.time() + timeout
    while time.time() < end:
        reap_strays()
        if queue_files(agent) == 0 and not live_strays():
            return True
        time.sleep(0.005)
    return False


# --------------------------------------------------------------------------
# stats

def summ(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {'n': len(xs), 'median': statistics.median(xs), 'min': min(xs), 'max': max(xs)}


def make_message(path, size=2048, subject='bench', tag=''):
    hdr = (f'From: Bench Sender <sender@example.org>\n'
           f'To: Bench Rcpt <rcpt@example.net>\n'
           f'Subject: {subject}{tag}\n'
           f'Date: Thu, 01 Jan 2026 00:00:00 +0000\n'
           f'Message-ID: <bench-{tag or "msg"}@example.org>\n'
           f'MIME-Version: 1.0\n'
           f'Content-Type: text/plain; charset=us-ascii\n\n')
    line = 'The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\n'
    body = ''
    while len(hdr) + len(body) + len(line) <= size:
        body += line
    body += 'x' * (size - len(hdr) - len(body) - 1) + '\n'
    data = (hdr + body).encode()
    assert len(data) == size, len(data)
    with open(path, 'wb') as f:
        f.write(data)


def block_dev_stat(path):
    st = os.stat(path)
    base = os.path.realpath(f'/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}')
    if os.path.exists(os.path.join(base, 'partition')):
        base = os.path.dirname(base)
    return os.path.join(base, 'stat'), os.path.basename(base)


def read_dev(statpath):
    f = [int(x) for x in open(statpath).read().split()]
    # fields: 6 = sectors written, 4 = write I/Os, 15 = flush requests (if present)
    return {'sectors_w': f[6], 'ios_w': f[4], 'flushes': f[15] if len(f) > 15 else 0}


# --------------------------------------------------------------------------
# phases

def rss_run(a, msg, logpath):
    """Peak RSS via GNU time in its own invocation: a process started from
    this (large) Python process inherits its high-water mark at exec, so
    ru_maxrss from our own wait4 would read ~20 MB for /bin/true; GNU time
    forks from a ~1 MB process instead."""
    out = os.path.join(RUN, 'rss.txt')
    _, _, rc, t0 = spawn_wait([GNU_TIME, '-f', '%M', '-o', out] + a.cmd(), msg, logpath)
    try:
        kib = int(open(out).read().split()[-1])
    except (OSError, ValueError, IndexError):
        kib = None
    return kib, rc, t0


def phase_latency(agents, sink, msg, rounds, warmup, logs):
    res = {a.name: {'wall': [], 'rss': [], 'deliver': [], 'rc': []} for a in agents}
    fails = {a.name: 0 for a in agents}

    def deliver_wait(a, rc, base, t0):
        d = None
        if a.delivers and rc == 0:
            t = sink.wait_count(base + 1, timeout=30)
            d = (t - t0) if t else None
            if t is None:
                fails[a.name] += 1
            if not settle(a):
                log(f'warning: {a.name} did not settle')
        elif a.delivers:
            fails[a.name] += 1
        return d

    for r in range(warmup + rounds):
        k = r % len(agents)
        order = agents[k:] + agents[:k]
        for a in order:
            base = sink.count()
            if a.smtp_port:   # sysmail: one message on a fresh connection; no process to measure
                w, bad, t0 = smtp_submit(a.smtp_port, _smtp_payload(msg))
                rc = 1 if bad else 0
                d = deliver_wait(a, rc, base, t0)
                kib = None
            else:
                w, _, rc, t0 = spawn_wait(a.cmd(), msg, logs[a.name])
                d = deliver_wait(a, rc, base, t0)
                base = sink.count()
                kib, rc2, t0 = rss_run(a, msg, logs[a.name])
                deliver_wait(a, rc2, base, t0)
            if r >= warmup:
                res[a.name]['wall'].append(w)
                res[a.name]['rss'].append(kib)
                res[a.name]['deliver'].append(d)
                res[a.name]['rc'].append(rc)
        if r == warmup - 1:
            log('latency: warm-up done')
    return res, fails


def phase_burst(agents, sink, msg, n, rounds, logs, devstat, slow=(), slow_rounds=1, smtp_conns=1):
    res = {a.name: [] for a in agents}
    for r in range(rounds):
        k = r % len(agents)
        order = agents[k:] + agents[:k]
        for a in order:
            if a.name in slow and r >= slow_rounds:
                continue
            settle(a)
            os.sync()
            d0 = read_dev(devstat)
            base = sink.count()
            bad = 0
            t0 = time.perf_counter()
            if a.smtp_port:   # sysmail: the whole burst over smtp_conns reused connections
                t_sub, bad, t0 = smtp_submit(a.smtp_port, _smtp_payload(msg), n, smtp_conns)
            else:
                for _ in range(n):
                    _, _, rc, _ = spawn_wait(a.cmd(), msg, logs[a.name])
                    bad += rc != 0
            t_sub = time.perf_counter() - t0
            t_all = None
            got = None
            if a.delivers:
                t = sink.wait_count(base + n, timeout=max(120, n * 1.0), poll=0.005)
                got = sink.count() - base
                t_all = (t - t0) if t else None
            settle(a, timeout=30)
            mem = daemon_mem(a)
            os.sync()
            d1 = read_dev(devstat)
            res[a.name].append({
                'submit_s': t_sub, 'all_delivered_s': t_all, 'received': got, 'failed_submits': bad,
                'dev_bytes_per_msg': (d1['sectors_w'] - d0['sectors_w']) * 512 / n,
                'dev_write_ios_per_msg': (d1['ios_w'] - d0['ios_w']) / n,
                'dev_flushes_per_msg': (d1['flushes'] - d0['flushes']) / n,
                'daemon_mem': mem,
            })
            log(f'burst r{r} {a.name}: submit {t_sub:.2f}s all {t_all if t_all is None else round(t_all, 2)}s '
                f'dev {res[a.name][-1]["dev_bytes_per_msg"]:.0f} B/msg')
    return res


TRACE_SET = ('write,pwrite64,writev,pwritev,pwritev2,fsync,fdatasync,sync_file_range,syncfs,sync,'
             'open,openat,creat,rename,renameat,renameat2,link,linkat,unlink,unlinkat,mkdir,'
             'ftruncate,msync,copy_file_range')
SYSCALL_RE = re.compile(r'^(\d+\.\d+) (\w+)\((.*)\) += (-?\d+)')
FD_RE = re.compile(r'^\d+<([^>]*)>')


def parse_traces(files, t_lo=None, t_hi=None, exclude=(RUN,)):
    out = {'file_bytes': 0, 'fsync': 0, 'creat_opens': 0, 'renames': 0, 'unlinks': 0,
           'links': 0, 'files_written': set(), 'by_file': {}}
    for fn in files:
        for line in open(fn, errors='replace'):
            m = SYSCALL_RE.match(line)
            if not m:
                continue
            ts, call, args, ret = float(m.group(1)), m.group(2), m.group(3), int(m.group(4))
            if t_lo is not None and not (t_lo <= ts <= t_hi):
                continue
            if ret < 0:
                continue
            fdm = FD_RE.match(args)
            path = fdm.group(1) if fdm else ''
            regular = (path.startswith('/') and not path.startswith(('/dev/', '/proc/', '/sys/'))
                       and not path.startswith(exclude))
            if call in ('write', 'pwrite64', 'writev', 'pwritev', 'pwritev2', 'copy_file_range'):
                if regular:
                    out['file_bytes'] += ret
                    norm = re.sub(r'[0-9A-Za-z]{21}|[0-9A-Fa-f]{5,}|\d+', 'N', re.sub(r'tmp_\w+$', 'tmp_*', path))
                    out['files_written'].add(norm)
                    out['by_file'][norm] = out['by_file'].get(norm, 0) + ret
            elif call in ('fsync', 'fdatasync', 'sync_file_range', 'syncfs', 'sync', 'msync'):
                out['fsync'] += 1
            elif call in ('open', 'openat', 'creat'):
                if call == 'creat' or 'O_CREAT' in args:
                    rp = re.search(r'= \d+<([^>]*)>', line)
                    p2 = rp.group(1) if rp else ''
                    if not p2.startswith(exclude + ('/dev/', '/proc/')):
                        out['creat_opens'] += 1
            elif call.startswith('rename'):
                out['renames'] += 1
            elif call.startswith('unlink'):
                out['unlinks'] += 1
            elif call.startswith('link'):
                out['links'] += 1
    out['files_written'] = sorted(out['files_written'])
    return out


def phase_disk(agents, sink, msg, k, logs, tracedir):
    os.makedirs(tracedir, exist_ok=True)
    res = {}
    for a in agents:
        if a.daemon:
            stop_daemon(a)
            start_daemon(a, trace_prefix=os.path.join(tracedir, f'{a.name}.daemon'),
                         trace_set=TRACE_SET)
        t_lo = time.time()
        for i in range(k):
            base = sink.count()
            if a.smtp_port:   # sysmail: the submitter is our SMTP client, the daemon is traced
                smtp_submit(a.smtp_port, _smtp_payload(msg))
                rc = 0
            else:
                argv = [STRACE, '-ff', '-y', '-ttt', '-qq', '-e', f'trace={TRACE_SET}',
                        '-o', os.path.join(tracedir, f'{a.name}.sub{i}')] + a.cmd()
                _, _, rc, _ = spawn_wait(argv, msg, logs[a.name])
            if a.delivers:
                sink.wait_count(base + 1, timeout=30)
                settle(a)
        time.sleep(0.2)
        t_hi = time.time()
        if a.daemon:
            stop_daemon(a)
            start_daemon(a)
        sub = parse_traces(glob.glob(os.path.join(tracedir, f'{a.name}.sub*')))
        dae = parse_traces(glob.glob(os.path.join(tracedir, f'{a.name}.daemon*')), t_lo, t_hi)
        per = {}
        for key in ('file_bytes', 'fsync', 'creat_opens', 'renames', 'unlinks', 'links'):
            per[key] = (sub[key] + dae[key]) / k
            per['submitter_' + key] = sub[key] / k
        per['files'] = sorted(set(sub['files_written']) | set(dae['files_written']))
        per['bytes_by_file'] = {f: (sub['by_file'].get(f, 0) + dae['by_file'].get(f, 0)) / k
                                for f in per['files']}
        res[a.name] = per
        log(f'disk {a.name}: {per["file_bytes"]:.0f} B/msg to files, {per["fsync"]:.1f} fsync/msg')
    return res


def phase_outage(agents, sink, msgdir, down_s, max_s, logs, outdir):
    """Stop the sink, submit one tagged message per agent, restart the sink
    (dumping messages) after down_s, watch for arrivals up to max_s."""
    home = os.path.join(RUN, 'outage-home')
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, HOME=home)
    sink.stop()
    t_down = time.time()
    sub = {}
    for a in agents:
        m = os.path.join(msgdir, f'outage-{a.name}.eml')
        make_message(m, subject='bench-outage-', tag=a.name.replace(':', '-'))
        w, rss, rc, t0 = spawn_wait(a.cmd(), m, logs[a.name], env=env)
        sub[a.name] = {'rc': rc, 'wall_s': w, 't_submit': time.time() - w,
                       'queued_files_while_down': None}
    time.sleep(0.5)
    for a in agents:
        sub[a.name]['queued_files_while_down'] = queue_files(a) if a.queue_dirs else None
    while time.time() < t_down + down_s:
        time.sleep(0.1)
    dump = os.path.join(RUN, 'outage-dump')
    sink.start(dump_dir=dump)
    t_up = time.time()
    log(f'outage: sink back after {t_up - t_down:.1f}s; watching up to {max_s}s')
    pending = {a.name for a in agents}
    arrived = {}
    seen = set()
    while pending and time.time() < t_up + max_s:
        for fn in os.listdir(dump):
            if fn in seen:
                continue
            seen.add(fn)
            p = os.path.join(dump, fn)
            try:
                txt = open(p, errors='replace').read()
            except OSError:
                continue
            m = re.search(r'Subject: bench-outage-(\S+)', txt)
            if m:
                name = next((a.name for a in agents if a.name.replace(':', '-') == m.group(1)), None)
                if name:
                    t = os.stat(p).st_mtime
                    arrived[name] = t
                    pending.discard(name)
                    log(f'outage: {name} arrived {t - t_up:.1f}s after sink came back')
        reap_strays()
        time.sleep(0.2)
    res = {}
    for a in agents:
        t = arrived.get(a.name)
        res[a.name] = dict(sub[a.name],
                           delivered=t is not None,
                           after_sink_up_s=(t - t_up) if t else None,
                           after_submit_s=(t - sub[a.name]['t_submit']) if t else None)
        res[a.name].pop('t_submit')
    res['_meta'] = {'sink_down_s': t_up - t_down, 'watched_s': max_s,
                    'home_files_after': sorted(os.listdir(home))}
    shutil.copytree(dump, os.path.join(outdir, 'outage-dump'), dirs_exist_ok=True)
    return res


# --------------------------------------------------------------------------

def in_phase(agents, phase):
    """sysmail: the agents that take part in a phase."""
    return [a for a in agents if a.phases is None or phase in a.phases]


def fmt_ms(s):
    return '-' if s is None else f'{s * 1000:.1f}'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', required=True)
    ap.add_argument('--port', type=int, default=int(open(f'{P}/conf/SINK_PORT').read()))
    ap.add_argument('--agents', default='', help='comma list to keep (default: all)')
    ap.add_argument('--baseline', default='msmtp')
    ap.add_argument('--rounds', type=int, default=25)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--burst', type=int, default=200)
    ap.add_argument('--burst-rounds', type=int, default=3)
    ap.add_argument('--slow-ms', type=float, default=500.0,
                    help='agents whose median latency exceeds this run only --slow-burst-rounds bursts')
    ap.add_argument('--slow-burst-rounds', type=int, default=1)
    ap.add_argument('--disk-msgs', type=int, default=10)
    ap.add_argument('--down', type=float, default=10.0)
    ap.add_argument('--outage-max', type=float, default=660.0)
    ap.add_argument('--phases', default='latency,burst,disk,outage')
    ap.add_argument('--smtp-conns', type=int, default=1, help='sysmail: connections for an SMTP burst')
    ap.add_argument('--idle-wait', type=float, default=3.0, help='sysmail: s before daemon idle memory is read')
    args = ap.parse_args()
    phases = set(args.phases.split(','))

    os.makedirs(args.out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    set_subreaper()
    floor_dir = os.path.join(SPOOL, 'bench-floor')
    shutil.rmtree(floor_dir, ignore_errors=True)
    os.makedirs(floor_dir)
    agents, floors = builtin_agents(floor_dir)
    if args.agents:
        keep = set(args.agents.split(','))
        agents = [a for a in agents if a.name in keep]
        floors = [f for f in floors if f.name in keep or 'floors' in keep]
    for a in agents + floors:
        resolve(a)
    logdir = os.path.join(RUN, 'logs')
    os.makedirs(logdir, exist_ok=True)
    logs = {a.name: os.path.join(logdir, a.name.replace(':', '_') + '.log') for a in agents + floors}
    msgdir = os.path.join(RUN, 'msg')
    os.makedirs(msgdir, exist_ok=True)
    msg = os.path.join(msgdir, 'msg-2k.eml')
    make_message(msg)
    devstat, devname = block_dev_stat(SPOOL)   # sysmail: the spool's own device (a loop device with BENCH_LOOP=1)

    meta = {
        'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'kernel': platform.release(), 'cpus': os.cpu_count(),
        'node': subprocess.run([shutil.which('node') or 'node', '--version'], capture_output=True,
                               text=True).stdout.strip(),
        'versions': open(f'{P}/pkg/VERSIONS').read().split('\n')[:6],
        'port': args.port, 'block_device': devname, 'args': vars(args),
        'agents': {a.name: {'argv': a.cmd(), 'kind': a.kind, 'daemon': a.daemon, 'note': a.note}
                   for a in agents + floors},
    }
    results = {'meta': meta}
    for a in agents:        # leftovers of an interrupted run would skew the counts
        if a.queue_dirs and queue_files(a):
            log(f'{a.name}: purging {queue_files(a)} stale queue file(s)')
            extra = ([f'{SPOOL}/postfix/{d}' for d in ('defer', 'bounce', 'trace', 'flush')]
                     if a.name == 'postfix' else [])
            for d in a.queue_dirs + extra:
                for root, _, files in os.walk(d):
                    for f in files:
                        os.unlink(os.path.join(root, f))
    sink = Sink(args.port)
    try:
        sink.start()
        for a in agents:
            start_daemon(a)
        time.sleep(args.idle_wait)
        results['daemon_idle'] = {a.name: {'after_start': daemon_mem(a)} for a in agents if a.daemon}
        # smoke: every agent must deliver one message before we time anything
        for a in agents:
            base = sink.count()
            if a.smtp_port:
                _, bad, _ = smtp_submit(a.smtp_port, _smtp_payload(msg))
                rc = 1 if bad else 0
            else:
                _, _, rc, _ = spawn_wait(a.cmd(), msg, logs[a.name])
            ok = rc == 0 and sink.wait_count(base + 1, timeout=30) is not None
            settle(a)
            if not ok:
                raise SystemExit(f'smoke test failed for {a.name} (rc={rc}); see {logs[a.name]}: '
                                 f'{open(logs[a.name]).read()[-1500:] if os.path.exists(logs[a.name]) else ""}')
        log('smoke: all agents delivered')
        time.sleep(args.idle_wait)
        for a in agents:
            if a.daemon:
                results['daemon_idle'][a.name]['after_one_message'] = daemon_mem(a)

        if 'latency' in phases:
            lat, fails = phase_latency(in_phase(agents, 'latency') + floors, sink, msg, args.rounds, args.warmup, logs)
            base = lat.get(args.baseline)
            out = {}
            for name, r in lat.items():
                ratio = None
                if base:
                    ratio = summ([w / b for w, b in zip(r['wall'], base['wall'])])
                out[name] = {'wall_s': summ(r['wall']), 'maxrss_kib': summ(r['rss']), 'raw_wall_s': r['wall'],
                             'deliver_s': summ(r['deliver']), 'exit_codes': sorted(set(r['rc'])),
                             'failed': fails[name], 'ratio_vs_baseline': ratio}
            results['latency'] = out
            log('latency done')
            json.dump(results, open(os.path.join(args.out, 'results.json'), 'w'), indent=1)

        if 'burst' in phases:
            slow = [n for n, r in results.get('latency', {}).items()
                    if r['wall_s'] and r['wall_s']['median'] * 1000 > args.slow_ms]
            b = phase_burst(in_phase(agents, 'burst') + [f for f in floors if f.name in ('floor:true', 'floor:node-e0')],
                            sink, msg, args.burst, args.burst_rounds, logs, devstat, slow, args.slow_burst_rounds,
                            args.smtp_conns)
            out = {}
            for name, rs in b.items():
                out[name] = {
                    'n': args.burst, 'rounds': rs,
                    'submit_s': summ([x['submit_s'] for x in rs]),
                    'all_delivered_s': summ([x['all_delivered_s'] for x in rs]),
                    'dev_bytes_per_msg': summ([x['dev_bytes_per_msg'] for x in rs]),
                    'dev_flushes_per_msg': summ([x['dev_flushes_per_msg'] for x in rs]),
                }
            results['burst'] = out
            json.dump(results, open(os.path.join(args.out, 'results.json'), 'w'), indent=1)

        if 'disk' in phases:
            results['disk'] = phase_disk(in_phase(agents, 'disk') + [f for f in floors if 'write' in f.name], sink, msg,
                                         args.disk_msgs, logs, os.path.join(RUN, 'traces'))
            json.dump(results, open(os.path.join(args.out, 'results.json'), 'w'), indent=1)

        if 'outage' in phases:
            results['outage'] = phase_outage([a for a in in_phase(agents, 'outage') if not a.smtp_port], sink, msgdir, args.down, args.outage_max, logs,
                                             args.out)
    finally:
        for a in agents:
            try:
                stop_daemon(a)
            except Exception as e:  # keep cleaning up
                log(f'stop {a.name}: {e}')
        sink.stop()
        strays = live_strays()
        if strays:
            log(f'stopping {len(strays)} leftover background process(es): {strays}')
            for pid in strays:
                kill_pid(pid, timeout=3)
        reap_strays()
        shutil.rmtree(floor_dir, ignore_errors=True)
        if os.path.isdir(logdir):
            shutil.copytree(logdir, os.path.join(args.out, 'logs'), dirs_exist_ok=True)
        json.dump(results, open(os.path.join(args.out, 'results.json'), 'w'), indent=1)
    print(report(results))
    open(os.path.join(args.out, 'summary.md'), 'w').write(report(results))


def report(res):
    L = []
    m = res['meta']
    L.append(f"run {m['date_utc']}, kernel {m['kernel']}, {m['cpus']} cpus, node {m['node']}, "
             f"sink smtp-sink 127.0.0.1:{m['port']}, disk {m['block_device']}")
    if 'latency' in res:
        base = m['args']['baseline']
        L.append('')
        L.append(f"## latency: one `AGENT -t < 2 KB msg` per round, interleaved "
                 f"({m['args']['rounds']} rounds, {m['args']['warmup']} warm-up)")
        L.append('')
        L.append(f'| agent | wall ms median (min-max) | ratio vs {base} (median of paired) | '
                 f'peak RSS KiB median (min-max) | submit-to-sink ms median (min-max) | failures |')
        L.append('|---|---|---|---|---|---|')
        for name, r in res['latency'].items():
            w, rs, d, q = r['wall_s'], r['maxrss_kib'], r['deliver_s'], r['ratio_vs_baseline']
            qs = f"{q['median']:.2f}" if q else '-'
            ds = f"{fmt_ms(d['median'])} ({fmt_ms(d['min'])}-{fmt_ms(d['max'])})" if d else '-'
            L.append(f"| {name} | {fmt_ms(w['median'])} ({fmt_ms(w['min'])}-{fmt_ms(w['max'])}) | {qs} | "
                     f"{(str(round(rs['median'])) + ' (' + str(rs['min']) + '-' + str(rs['max']) + ')') if rs else '- (SMTP client)'} | {ds} | {r['failed']} |")
    if 'burst' in res:
        L.append('')
        L.append('## burst: N back-to-back submissions, time until the sink has all N '
                 f"(median of {m['args']['burst_rounds']} interleaved rounds; min-max)")
        L.append('')
        L.append('| agent | N | submit loop s | until sink has all N s | msgs/s | device bytes/msg | '
                 'device flushes/msg | daemon RSS/PSS KiB |')
        L.append('|---|---|---|---|---|---|---|---|')
        for name, r in res['burst'].items():
            if not r['rounds']:   # sysmail: an agent left out of the burst (--slow-burst-rounds 0)
                continue
            a, s = r['all_delivered_s'], r['submit_s']
            dm = r['rounds'][-1].get('daemon_mem')
            as_ = f"{a['median']:.2f} ({a['min']:.2f}-{a['max']:.2f}) | {r['n'] / a['median']:.0f}" if a else '- | -'
            dms = f"{dm['rss_kib']}/{dm['pss_kib']} ({dm['procs']} procs)" if dm else '-'
            L.append(f"| {name} | {r['n']} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}) | {as_} | "
                     f"{r['dev_bytes_per_msg']['median']:.0f} | {r['dev_flushes_per_msg']['median']:.2f} | {dms} |")
    if 'disk' in res:
        L.append('')
        L.append(f"## disk: strace -ff of submitter and daemons, per message ({m['args']['disk_msgs']} messages)")
        L.append('')
        L.append('| agent | bytes written to files | of which submitter | fsync-family calls | '
                 'of which submitter | O_CREAT opens | renames | unlinks | files written (digits as N) |')
        L.append('|---|---|---|---|---|---|---|---|---|')
        for name, r in res['disk'].items():
            L.append(f"| {name} | {r['file_bytes']:.0f} | {r['submitter_file_bytes']:.0f} | {r['fsync']:.1f} | "
                     f"{r['submitter_fsync']:.1f} | {r['creat_opens']:.1f} | {r['renames']:.1f} | "
                     f"{r['unlinks']:.1f} | {', '.join(r['files'][:8])} |")
    if res.get('daemon_idle'):
        L.append('')
        L.append('## daemon memory, idle: RSS / PSS KiB summed over the daemon\'s processes')
        L.append('')
        L.append('| agent | after start | after one message |')
        L.append('|---|---|---|')
        for name, r in res['daemon_idle'].items():
            f = lambda m: f"{m['rss_kib']} / {m['pss_kib']} ({m['procs']} procs)" if m else '-'
            L.append(f"| {name} | {f(r.get('after_start'))} | {f(r.get('after_one_message'))} |")
    if 'disk' in res:
        L.append('')
        L.append('## disk: bytes written per message, by file (strace)')
        L.append('')
        for name, r in res['disk'].items():
            if r.get('bytes_by_file'):
                L.append(f"- {name}: " + ', '.join(f"{k} {v:.0f}" for k, v in sorted(r['bytes_by_file'].items())))
    if 'outage' in res:
        o = res['outage']
        mm = o['_meta']
        L.append('')
        L.append(f"## outage: sink down {mm['sink_down_s']:.0f} s, then watched up to {mm['watched_s']:.0f} s")
        L.append('')
        L.append('| agent | submit exit code | submit ms | queue files while down | delivered | '
                 's after sink back | s after submit |')
        L.append('|---|---|---|---|---|---|---|')
        for name, r in o.items():
            if name == '_meta':
                continue
            up = '-' if r['after_sink_up_s'] is None else f"{r['after_sink_up_s']:.1f}"
            sb = '-' if r['after_submit_s'] is None else f"{r['after_submit_s']:.1f}"
            L.append(f"| {name} | {r['rc']} | {r['wall_s'] * 1000:.1f} | {r['queued_files_while_down']} | "
                     f"{'yes' if r['delivered'] else 'no'} | {up} | {sb} |")
        L.append('')
        L.append(f"files left in the submitters' HOME: {mm['home_files_after'] or 'none'}")
    return '\n'.join(L) + '\n'


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--report':   # sysmail: re-render summary.md from results.json
        print(report(json.load(open(sys.argv[2]))), end='')
    else:
        main()
