#!/usr/bin/env python3
"""Compare lb's example proxies with nginx and HAProxy on this machine (127.0.0.1 only).

    cargo build --release --examples
    python3 benches/peers/run.py [--rounds 3] [--duration 5s] [--conns 50]
                                 [--modes keepalive,close] [SCENARIO...]

Scenarios: direct (wrk -> backend), L4 nginx-stream haproxy-tcp lb-l4, L7 nginx-http
haproxy-http lb-l7 hyper-l7 (a minimal hyper proxy), TLS termination nginx-https haproxy-https lb-https;
optional: nginx-http-deferred haproxy-http-defer lb-l7-nodefer (TCP_DEFER_ACCEPT on/off), lb-l7-quickack,
nginx-stream-halfclose lb-l4-nohc (the same end-of-stream behaviour), and floor-epoll
floor-epoll-nohc floor-uring (the smallest C forwarders, floor/, built here with cc; io_uring needs
liburing-dev). `direct` is always
measured (it is the reference for the ratio column). Results go to target/peers/<timestamp>/
(summary.md, raw.csv, logs/); the summary is also printed. See README.md next to this file.

Every process started here runs in its own process group (pgid == pid) and is stopped by that
PID/PGID only. Every wrk run is bounded by -d and a timeout. The temporary directory (configs,
certificate, shim) is removed on exit.
"""
import argparse
import csv
import datetime
import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))          # the repository (benches/peers/..)
CONF = os.path.join(HERE, "conf")
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BODY_RE = re.compile(rb"^hello from ([123])\n$")
STREAM_MODULES = ("/usr/lib/nginx/modules/ngx_stream_module.so",
                  "/usr/lib64/nginx/modules/ngx_stream_module.so",
                  "/usr/share/nginx/modules/ngx_stream_module.so")

# name -> kind (direct | nginx | haproxy | lb), layer, config template or example binary, TLS
SCENARIOS = {
    "direct":        dict(kind="direct", layer="-"),
    "nginx-stream":  dict(kind="nginx", layer="L4", conf="nginx-stream.conf"),
    "haproxy-tcp":   dict(kind="haproxy", layer="L4", conf="haproxy-tcp.cfg"),
    "lb-l4":         dict(kind="lb", layer="L4", exe="tcp_proxy"),
    "nginx-http":    dict(kind="nginx", layer="L7", conf="nginx-http.conf"),
    "haproxy-http":  dict(kind="haproxy", layer="L7", conf="haproxy-http.cfg"),
    "lb-l7":         dict(kind="lb", layer="L7", exe="http_router"),
    # A minimal hyper 1 reverse proxy (examples/hyper_proxy.rs): what one might write instead.
    "hyper-l7":      dict(kind="lb", layer="L7", exe="hyper_proxy"),
    "nginx-https":   dict(kind="nginx", layer="TLS", conf="nginx-https.conf", tls=True),
    "haproxy-https": dict(kind="haproxy", layer="TLS", conf="haproxy-https.cfg", tls=True),
    "lb-https":      dict(kind="lb", layer="TLS", exe="https_terminator", tls=True),
    # Not in the default set: the same proxies with and without TCP_DEFER_ACCEPT (lb-l7 sets
    # it by default; nginx's `deferred` and HAProxy's `defer-accept` are off by default).
    "nginx-http-deferred": dict(kind="nginx", layer="L7", conf="nginx-http.conf",
                                fill=dict(DEFERRED=" deferred"), optional=True),
    "haproxy-http-defer":  dict(kind="haproxy", layer="L7", conf="haproxy-http.cfg",
                                fill=dict(DEFER_ACCEPT=" defer-accept"), optional=True),
    "lb-l7-nodefer":       dict(kind="lb", layer="L7", exe="http_router",
                                args=["--no-defer-accept"], optional=True),
    # ... and with the kernel's immediate ACK of a new connection's request (lb-l7, like
    # HAProxy's HTTP mode, clears TCP_QUICKACK on its listener by default).
    "lb-l7-quickack":      dict(kind="lb", layer="L7", exe="http_router",
                                args=["--quick-ack"], optional=True),
    # Not in the default set: L4 with the same end-of-stream behaviour. nginx stream closes both
    # sides at the first end unless `proxy_half_close on`; HAProxy and lb-l4 pass a half-close on
    # (lb-l4 --no-half-close does as nginx's default).
    "nginx-stream-halfclose": dict(kind="nginx", layer="L4", conf="nginx-stream.conf",
                                   fill=dict(HALF_CLOSE="proxy_half_close on;"), optional=True),
    "lb-l4-nohc":  dict(kind="lb", layer="L4", exe="tcp_proxy", args=["--no-half-close"], optional=True),
    # Not in the default set: the smallest L4 forwarders we could write in C (floor/), to see
    # how much of an L4 proxy's CPU per request is left to save with epoll or io_uring.
    "floor-epoll": dict(kind="floor", layer="L4", src="fwd_epoll.c", optional=True),
    "floor-uring": dict(kind="floor", layer="L4", src="fwd_uring.c", libs=["-luring"], optional=True),
    # ... and without half-close (the first end closes both sides: nginx stream's default)
    "floor-epoll-nohc": dict(kind="floor", layer="L4", src="fwd_epoll.c", args=["-n"], optional=True),
}


def log(msg):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# processes: each in its own session/process group, stopped by its PID/PGID only
# ----------------------------------------------------------------------------------------------
LIVE = {}


class Proc:
    def __init__(self, name, argv, logpath, env=None):
        self.name, self.argv, self.logpath = name, argv, logpath
        self.logf = open(logpath, "ab")
        self.logf.write(("$ " + " ".join(shlex.quote(a) for a in argv) + "\n").encode())
        self.logf.flush()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.pid = self.p.pid   # == its process group id
        LIVE[self.pid] = self

    def alive(self):
        return self.p.poll() is None

    def group_left(self):
        return any(st["pgrp"] == self.pid for st in all_stats().values())

    def stop(self, grace=5.0):
        """SIGTERM the process, wait up to `grace` s (lb drains), then its group: TERM, KILL."""
        try:
            if self.alive():
                os.kill(self.pid, signal.SIGTERM)
                try:
                    self.p.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not self.alive() and not self.group_left():
                    break
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    pass
                deadline = time.time() + 2.0
                while time.time() < deadline and (self.alive() or self.group_left()):
                    time.sleep(0.05)
        finally:
            LIVE.pop(self.pid, None)
            self.logf.close()

    def text(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def stop_all():
    for pr in list(LIVE.values()):
        try:
            pr.stop(grace=2.0)
        except Exception as e:  # noqa: BLE001
            print(f"warning: stopping {pr.name} (pid {pr.pid}): {e}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# /proc
# ----------------------------------------------------------------------------------------------
def read_stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = data[data.rfind(")") + 2:].split()   # fields[0] is field 3 (state)
    return dict(ppid=int(fields[1]), pgrp=int(fields[2]),
                ticks=int(fields[11]) + int(fields[12]), threads=int(fields[17]))


def all_stats():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = read_stat(int(d))
            if st:
                out[int(d)] = st
    return out


def tree(pid, stats):
    kids = {}
    for p, st in stats.items():
        kids.setdefault(st["ppid"], []).append(p)
    res, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            res.append(p)
            todo.extend(kids.get(p, []))
    return res


def tree_cpu(pid):
    """(utime+stime ticks, threads) summed over pid and its descendants."""
    stats = all_stats()
    ps = tree(pid, stats)
    return sum(stats[p]["ticks"] for p in ps), sum(stats[p]["threads"] for p in ps)


def cpu_busy():
    """per-CPU (busy, irq+softirq, total) jiffies from /proc/stat (busy excludes idle, iowait, steal)."""
    res = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                p = line.split()
                v = list(map(int, p[1:9]))
                res[int(p[0][3:])] = (sum(v) - v[3] - v[4] - v[7], v[5] + v[6], sum(v))
    return res


def listen_inodes(port):
    """inodes of LISTEN sockets on port (any local address, IPv4 and IPv6)."""
    res = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A" and int(p[1].rsplit(":", 1)[1], 16) == port:
                        res.add(p[9])
        except OSError:
            pass
    return res


def owns_listener(port, pid):
    inodes = listen_inodes(port)
    for p in tree(pid, all_stats()):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    return False


def port_busy(port):
    if listen_inodes(port):
        return True
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_listen(port, proc, timeout):
    """Wait until `port` accepts a TCP connection and the listener belongs to `proc`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and not proc.alive():
            return "exited before listening"
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect((HOST, port))
            if proc is None or owns_listener(port, proc.pid):
                return None
            return f"port {port} answers but the listener is not {proc.name}'s"
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    return f"not listening on {port} after {timeout:.0f}s"


# ----------------------------------------------------------------------------------------------
# HTTP(S) checks
# ----------------------------------------------------------------------------------------------
class Conn(http.client.HTTPConnection):
    """HTTP/1.1 to 127.0.0.1:port, optionally over TLS verified against our certificate
    for the name `localhost`."""

    def __init__(self, port, ctx=None):
        super().__init__(HOST, port, timeout=5)
        self.ctx = ctx

    def connect(self):
        super().connect()
        if self.ctx is not None:
            self.sock = self.ctx.wrap_socket(self.sock, server_hostname="localhost")


def backend_status(port):
    c = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        c.request("GET", "/status")
        lines = c.getresponse().read().decode().splitlines()
    finally:
        c.close()
    accepts, handled, requests = map(int, lines[2].split())
    return dict(accepts=accepts, requests=requests)


def functional_check(port, tls, proxied):
    """9 GETs on fresh connections + 3 on one keep-alive connection: all 200 `hello from N`.
    Over TLS the certificate must be ours. Returns (ok, description)."""
    ctx = None
    if tls:
        ctx = ssl.create_default_context(cafile=tls["cert"])   # verifies chain + name localhost
    seen, problems = [], []
    for _ in range(9):
        c = Conn(port, ctx)
        try:
            c.connect()
            if tls and c.sock.getpeercert(binary_form=True) != tls["der"]:
                problems.append("certificate is not the one generated for this run")
            c.request("GET", "/", headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read()
            m = BODY_RE.match(body)
            if r.status != 200 or not m:
                problems.append(f"status {r.status} body {body[:40]!r}")
            else:
                seen.append(int(m.group(1)))
        except (OSError, http.client.HTTPException) as e:
            problems.append(f"{type(e).__name__}: {e}")
        finally:
            c.close()
    c = Conn(port, ctx)
    try:
        for _ in range(3):
            c.request("GET", "/")
            r = c.getresponse()
            body = r.read()
            if r.status != 200 or not BODY_RE.match(body):
                problems.append(f"keep-alive: status {r.status} body {body[:40]!r}")
            elif r.will_close:
                problems.append("keep-alive: the connection was closed")
                break
    except (OSError, http.client.HTTPException) as e:
        problems.append(f"keep-alive: {type(e).__name__}: {e}")
    finally:
        c.close()
    if proxied and len(set(seen)) < 2 and not problems:
        problems.append("all requests went to one backend (no balancing?)")
    dist = " ".join(f"{b}:{seen.count(b)}" for b in sorted(set(seen)))
    problems = list(dict.fromkeys(problems))
    return (not problems), f"backends [{dist}]" + ("" if not problems else "; " + "; ".join(problems[:3]))


def tls_params(port, client_env):
    """What an OpenSSL client configured like wrk negotiates (openssl s_client)."""
    try:
        r = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", "localhost"],
                           input=b"", capture_output=True, start_new_session=True, timeout=10, env=client_env)
        out = (r.stdout + r.stderr).decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired) as e:
        return dict(tls_error=str(e))
    m = re.search(r"^(New|Reused), (\S+), Cipher is (\S+)", out, re.M)
    g = re.search(r"^Server Temp Key: ([^,\n]+)", out, re.M)
    s = re.search(r"^Peer signature type: (\S+)", out, re.M)
    if not m:
        return dict(tls_error="no handshake: " + out.strip().splitlines()[-1][:100] if out.strip() else "?")
    return dict(tls_protocol=m.group(2), tls_cipher=m.group(3),
                tls_group=g.group(1) if g else "?", tls_sig=s.group(1) if s else "?")


# ----------------------------------------------------------------------------------------------
# wrk
# ----------------------------------------------------------------------------------------------
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out):
    res = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if not m:
        return None
    res["requests"] = int(m.group(1))
    res["wrk_seconds"] = float(m.group(2)) * UNIT_MS[m.group(3)] / 1000.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else res["requests"] / max(res["wrk_seconds"], 1e-9)
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        res[f"p{pct}_ms"] = round(float(m.group(1)) * UNIT_MS[m.group(2)], 3) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errs = list(map(int, m.groups())) if m else [0, 0, 0, 0]
    res.update(err_connect=errs[0], err_read=errs[1], err_write=errs[2], err_timeout=errs[3])
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["err_status"] = int(m.group(1)) if m else 0
    res["errors"] = sum(errs) + res["err_status"]
    return res


def wrk_argv(args, url, conns, mode, duration):
    if args.client == "cycle":   # close mode only (checked in main); times connect to response
        port = url.rsplit(":", 1)[1].strip("/")
        return pin(args.client_cpu, [args.cycle_exe, port, str(conns), str(parse_seconds(duration)), "0"])
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration}", "--latency", "--timeout", args.wrk_timeout]
    if mode == "close":
        argv += ["-H", "Connection: close"]
    return pin(args.client_cpu, argv + [url])


def pin(cpu, argv):
    return argv if cpu is None else ["taskset", "-c", str(cpu)] + argv


# ----------------------------------------------------------------------------------------------
# scenarios
# ----------------------------------------------------------------------------------------------
def render(name, env, dest_name=None):
    with open(os.path.join(CONF, name)) as f:
        text = f.read()
    for k, v in env.items():
        text = text.replace(f"@{k}@", str(v))
    left = sorted(set(re.findall(r"@[A-Z_0-9]+@", re.sub(r"#.*", "", text))))
    if left:
        raise SystemExit(f"{name}: unfilled placeholders {left}")
    dest = os.path.join(env["RUNDIR"], dest_name or name)
    with open(dest, "w") as f:
        f.write(text)
    return dest


def nginx_argv(conf, rundir, errlog):
    return ["nginx", "-p", rundir + "/", "-e", errlog, "-c", conf, "-g", "daemon off;"]


def conf_name(name, sc):
    """The rendered config of scenario `name` (variants of one template differ in their fill)."""
    return f"{name}-{sc['conf']}" if sc.get("fill") else sc["conf"]


def proxy_argv(name, sc, ctx):
    backends = [f"{HOST}:{p}" for p in ctx["backend_ports"]]
    listen = f"{HOST}:{ctx['proxy_port']}"
    if sc["kind"] == "nginx":
        return nginx_argv(os.path.join(ctx["rundir"], conf_name(name, sc)), ctx["rundir"], "/dev/stderr")
    if sc["kind"] == "haproxy":
        return ["haproxy", "-db", "-f", os.path.join(ctx["rundir"], conf_name(name, sc))]
    if sc["kind"] == "floor":
        return ([os.path.join(ctx["rundir"], sc["src"][:-2])] + sc.get("args", []) + [str(ctx["proxy_port"])]
                + [str(p) for p in ctx["backend_ports"]])
    exe = os.path.join(ctx["examples"], sc["exe"])
    if sc["exe"] == "tcp_proxy":
        argv = [exe, "--listen", listen]
        for b in backends:
            argv += ["--backend", b]
        return argv + ["--threads", "1"] + sc.get("args", [])
    if sc["exe"] == "http_router":
        return ([exe, "--listen", listen, "--route", "/=" + ",".join(backends), "--threads", "1"]
                + sc.get("args", []))
    if sc["exe"] == "hyper_proxy":
        return [exe, listen] + backends
    if sc["exe"] == "https_terminator":
        return [exe, "--listen", listen, "--cert", ctx["tls"]["cert"], "--key", ctx["tls"]["key"],
                "--route", "/=" + ",".join(backends), "--threads", "1"]
    raise ValueError(name)


LB_TLS_RE = re.compile(r"(\d+) handshakes \((\d+) resumed, (\d+) failed")


def measure(args, ctx, name, mode, rnd):
    sc = SCENARIOS[name]
    tls = ctx["tls"] if sc.get("tls") else None
    row = dict(round=rnd, mode=mode, scenario=name, layer=sc["layer"], conns=args.conns,
               status="", check="")
    cell = f"r{rnd}-{mode}-{name}"
    proxy = None
    t_begin = time.monotonic()
    try:
        if sc["kind"] == "direct":
            port = ctx["backend_ports"][0]
        else:
            port = ctx["proxy_port"]
            if port_busy(port):
                row["status"] = f"port {port} is in use by something else: not started"
                return row
            proxy = Proc(name, pin(args.proxy_cpu, proxy_argv(name, sc, ctx)),
                         os.path.join(ctx["logdir"], cell + ".proxy.log"))
            err = wait_listen(port, proxy, args.start_timeout)
            if err:
                tail = " | ".join(proxy.text().strip().splitlines()[-3:])
                row["status"] = f"FAILED to start: {err}: {tail}"[:300]
                return row
        row["start_s"] = round(time.monotonic() - t_begin, 2)
        t_check = time.monotonic()
        ok, desc = functional_check(port, tls, proxied=proxy is not None)
        row["check"] = desc
        if tls:
            row.update(tls_params(port, ctx["client_env"]))
        row["check_s"] = round(time.monotonic() - t_check, 2)
        if not ok:
            row["status"] = "FAILED functional check"
            return row
        scheme = "https" if tls else "http"
        url = f"{scheme}://{HOST}:{port}/"
        wenv = ctx["client_env"] if tls else None
        if args.warmup_s > 0:
            subprocess.run(wrk_argv(args, url, args.conns, mode, args.warmup), capture_output=True,
                           start_new_session=True, timeout=args.warmup_s + 30, env=wenv)
        time.sleep(0.2)
        b0 = backend_status(ctx["status_port"])
        p0 = tree_cpu(proxy.pid) if proxy else (0, 0)
        c0 = cpu_busy()
        t0 = time.monotonic()
        argv = wrk_argv(args, url, args.conns, mode, args.duration)
        try:
            wr = subprocess.run(argv, capture_output=True, start_new_session=True, text=True,
                                timeout=args.duration_s + 30, env=wenv)
        except subprocess.TimeoutExpired:
            row["status"] = "FAILED: wrk did not finish in time"
            return row
        t1 = time.monotonic()
        if proxy is not None and not proxy.alive():
            row["status"] = f"FAILED: {name} exited during the run (rc {proxy.p.returncode})"
            return row
        p1 = tree_cpu(proxy.pid) if proxy else (0, 0)
        c1 = cpu_busy()
        b1 = backend_status(ctx["status_port"])
        with open(os.path.join(ctx["logdir"], cell + ".wrk.txt"), "w") as f:
            f.write(("LD_PRELOAD=... " if wenv and "LD_PRELOAD" in wenv else "")
                    + " ".join(shlex.quote(a) for a in argv) + "\n" + wr.stdout + wr.stderr)
        w = parse_wrk(wr.stdout)
        if wr.returncode != 0 or w is None:
            row["status"] = f"FAILED: wrk rc={wr.returncode}: {wr.stderr.strip()[:200]}"
            return row
        row.update(w)
        n = max(w["requests"], 1)
        win = t1 - t0
        row["rps"] = round(w["rps"], 1)
        # backend: new connections per 1000 requests (minus the status request's own connection)
        row["be_requests"] = b1["requests"] - b0["requests"] - 1
        row["be_accepts"] = b1["accepts"] - b0["accepts"] - 1
        row["be_conn_per_1k"] = round(1000.0 * row["be_accepts"] / n, 2)
        if proxy:
            ticks = p1[0] - p0[0]
            row["proxy_cpu_pct"] = round(100.0 * ticks / CLK_TCK / win, 1)
            row["proxy_us_per_req"] = round(ticks / CLK_TCK / n * 1e6, 2)
            row["proxy_threads"] = p1[1]
        for c in sorted(c1):
            tot = max(c1[c][2] - c0[c][2], 1)
            row[f"cpu{c}_busy_pct"] = round(100.0 * (c1[c][0] - c0[c][0]) / tot, 1)
            row[f"cpu{c}_softirq_pct"] = round(100.0 * (c1[c][1] - c0[c][1]) / tot, 1)
        row["status"] = "ok"
        if w["errors"]:
            row["status"] = f"ok, {w['errors']} wrk errors"
        return row
    except Exception as e:  # noqa: BLE001 -- one broken cell must not end the whole run
        row.pop("rps", None)
        row["status"] = f"FAILED: {type(e).__name__}: {e}"[:300]
        return row
    finally:
        if proxy is not None:
            t_stop = time.monotonic()
            proxy.stop()
            row["stop_s"] = round(time.monotonic() - t_stop, 2)
            m = LB_TLS_RE.search(proxy.text())
            if m:   # lb-https prints its handshake counters when it drains
                row["lb_handshakes"], row["lb_resumed"] = int(m.group(1)), int(m.group(2))
                row["lb_failed_handshakes"] = int(m.group(3))
        time.sleep(args.settle)


# ----------------------------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------------------------
def med(xs):
    return statistics.median(xs) if xs else None


def fnum(x, nd=0):
    return "-" if x is None else f"{x:,.{nd}f}"


def summarize(rows, names, args):
    out = {}
    for mode in args.modes:
        dm = med([r["rps"] for r in rows if r["scenario"] == "direct" and r["mode"] == mode and "rps" in r])
        for n in names:
            rs = [r for r in rows if r["scenario"] == n and r["mode"] == mode]
            good = [r for r in rs if "rps" in r]

            def col(k):
                return [r[k] for r in good if r.get(k) is not None]
            rps = col("rps")
            out[(mode, n)] = dict(
                runs=len(rs), measured=len(good), rps=med(rps),
                rps_min=min(rps) if rps else None, rps_max=max(rps) if rps else None,
                ratio=(med(rps) / dm) if rps and dm else None,
                p50=med(col("p50_ms")), p99=med(col("p99_ms")),
                pcpu=med(col("proxy_cpu_pct")), pus=med(col("proxy_us_per_req")),
                be=med(col("be_conn_per_1k")), errors=sum(r.get("errors", 0) for r in good),
                ccpu=med(col(f"cpu{args.client_cpu}_busy_pct")) if args.client_cpu is not None else None,
                pcpu_busy=med(col(f"cpu{args.proxy_cpu}_busy_pct")) if args.proxy_cpu is not None else None,
                other=med([r["cpu%d_busy_pct" % args.proxy_cpu] - r.get("cpu%d_softirq_pct" % args.proxy_cpu, 0)
                           - r["proxy_cpu_pct"] for r in good if r.get("proxy_cpu_pct") is not None])
                if args.proxy_cpu is not None else None,
                failures=sorted({f"{r['status']} ({r['check']})" if r.get("check") else r["status"]
                                 for r in rs if "rps" not in r}))
    return out


def markdown(rows, names, args, meta):
    S = summarize(rows, names, args)
    L = [f"# lb peer comparison — {meta['date']}", ""]
    L.append(f"- command: `{meta['command']}`")
    L.append(f"- machine: {meta['cpu_model']}, {meta['ncpu']} CPUs, Linux {meta['kernel']}")
    L.append(f"- peers: {meta['nginx']}; {meta['haproxy']}; client {meta['wrk']}; {meta['openssl']}")
    L.append(f"- lb: examples from `{meta['examples']}` (rustls {meta['rustls']}, ring provider; "
             f"tokio {meta['tokio']})")
    pinning = (f"proxy on CPU {args.proxy_cpu}, backend nginx and wrk on CPU {args.client_cpu}"
               if args.proxy_cpu is not None else "none")
    load = (f"`cycle_client PORT {args.conns} {args.duration_s:g}` (benches/peers/cycle_client.c: p50/p99 "
            f"below are of the whole cycle, connect to response)" if args.client == "cycle" else
            f"`wrk -t1 -c{args.conns} -d{args.duration} --latency --timeout {args.wrk_timeout}`")
    L.append(f"- load: {load} "
             f"(after a {args.warmup} warm-up), {args.rounds} interleaved round(s), pinning: {pinning}; "
             f"each proxy has one worker/thread and is started fresh for every measurement")
    L.append(f"- backend: one nginx worker, 3 ports, `return 200 \"hello from N\\n\"` (13-byte body)")
    if any(SCENARIOS[n].get("tls") for n in names):
        L.append(f"- TLS: one self-signed ECDSA P-256 certificate for `localhost` shared by all *-https; "
                 f"client (wrk, s_client) restricted by OPENSSL_CONF to TLS 1.3, TLS_AES_128_GCM_SHA256, "
                 f"X25519; {meta['resumption']}")
    L.append("")
    cpucol = (f"CPU{args.client_cpu}/CPU{args.proxy_cpu} busy %" if args.proxy_cpu is not None
              else "client/proxy CPU")
    L.append("Columns: median over rounds. `req/s` (min–max when rounds > 1); `×direct` = req/s ÷ `direct`'s "
             "req/s in the same mode; " + ("p50/p99 = the whole cycle's percentiles (closed loop, "
             "from socket(2) to the response's last byte); " if args.client == "cycle" else
             "p50/p99 = wrk's latency percentiles (closed loop, from request write "
             "to response: excludes TCP connect and TLS handshake); ") +
             "`proxy CPU` = the proxy's process tree, % of one core (utime+stime from /proc); `µs/req` = proxy CPU "
             "time per request; `be conn/1k` = new backend connections per 1000 requests (stub_status accepts); "
             f"`{cpucol}` = busy % of the client+backend CPU and of the proxy's CPU during the run (see **Noise**); "
             "`errors` = wrk socket errors "
             "+ non-2xx, all rounds. When `proxy CPU` is well below 100 the proxy was not the bottleneck: "
             "compare `µs/req` rather than req/s.")
    for mode in args.modes:
        title = ("keep-alive" if mode == "keepalive" else
                 "Connection: close — a new client connection per request"
                 + ("; for *-https a TLS handshake per request, so req/s = handshakes/s"
                    + (" (full handshakes)" if meta["full_handshakes"] else " (RESUMED sessions, see above)")
                    if any(SCENARIOS[n].get("tls") for n in names) else ""))
        L += ["", f"## {title} (-c{args.conns})", ""]
        L.append("| scenario | layer | req/s | ×direct | p50 ms | p99 ms | proxy CPU % | proxy µs/req "
                 f"| be conn/1k | {cpucol} | errors | runs |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n in names:
            s = S[(mode, n)]
            if not s["measured"]:
                L.append(f"| {n} | {SCENARIOS[n]['layer']} | **failed** | | | | | | | | | 0/{s['runs']} |")
                continue
            rps = fnum(s["rps"])
            if args.rounds > 1 and s["rps_min"] is not None:
                rps += f" ({fnum(s['rps_min'])}–{fnum(s['rps_max'])})"
            ratio = "-" if s["ratio"] is None else f"{s['ratio']:.2f}"
            L.append(f"| {n} | {SCENARIOS[n]['layer']} | {rps} | {ratio} | "
                     f"{fnum(s['p50'], 2)} | {fnum(s['p99'], 2)} | {fnum(s['pcpu'])} | {fnum(s['pus'], 1)} | "
                     f"{fnum(s['be'], 1)} | {fnum(s['ccpu'])}/{fnum(s['pcpu_busy'])} | {s['errors']} | "
                     f"{s['measured']}/{s['runs']} |")
    tls_rows = [r for r in rows if r.get("tls_cipher") or r.get("tls_error")]
    if tls_rows:
        L += ["", "## TLS negotiated (openssl s_client with wrk's OPENSSL_CONF, each measurement)", ""]
        L.append("| scenario | protocol | cipher | group | signature | lb handshakes (resumed) |")
        L.append("|---|---|---|---|---|---|")
        for n in names:
            rs = [r for r in tls_rows if r["scenario"] == n]
            if not rs:
                continue
            def uniq(k):
                return ", ".join(sorted({str(r.get(k)) for r in rs if r.get(k)})) or "-"
            hs = [r for r in rows if r["scenario"] == n and "lb_handshakes" in r]
            lbhs = (f"{sum(r['lb_handshakes'] for r in hs):,} ({sum(r['lb_resumed'] for r in hs):,})"
                    if hs else "-")
            err = uniq("tls_error")
            L.append(f"| {n} | {uniq('tls_protocol')} | {uniq('tls_cipher')} | {uniq('tls_group')} | "
                     f"{uniq('tls_sig')} | {lbhs} |" + (f" error: {err}" if err != "-" else ""))
    fails = [(m, n, S[(m, n)]["failures"]) for m in args.modes for n in names if S[(m, n)]["failures"]]
    if fails:
        L += ["", "## Failures", ""]
        for m, n, fl in fails:
            for f in fl:
                L.append(f"- {n} / {m}: {f}")
    if args.proxy_cpu is not None:
        noisy = [f"{n}/{m} (+{fnum(S[(m, n)]['other'])})" for m in args.modes for n in names
                 if S[(m, n)]["other"] is not None and S[(m, n)]["other"] > 20]
        if noisy:
            L += ["", "## Noise", "",
                  f"CPU {args.proxy_cpu} (the proxy's), less its irq/softirq time, was busier than the proxy by "
                  "more than 20 points (other work shared the proxy's core) in: " + ", ".join(noisy)
                  + ". Their req/s understate the proxy; "
                  "µs/req is less affected. Re-run on a quieter machine to compare req/s."]
    notes = [r for r in rows if "rps" in r and r.get("errors")]
    if notes:
        L += ["", "## Runs with wrk errors", ""]
        for r in notes:
            L.append(f"- r{r['round']} {r['mode']} {r['scenario']}: connect {r['err_connect']}, read "
                     f"{r['err_read']}, write {r['err_write']}, timeout {r['err_timeout']}, "
                     f"non-2xx {r['err_status']} of {r['requests']:,} requests")
    return "\n".join(L) + "\n"


def write_csv(rows, path):
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


# ----------------------------------------------------------------------------------------------
# setup
# ----------------------------------------------------------------------------------------------
def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, start_new_session=True, text=True, timeout=10)
        return ((r.stdout + r.stderr).strip().splitlines() or ["?"])[0].strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"? ({e})"


def lock_version(crate):
    try:
        with open(os.path.join(ROOT, "Cargo.lock")) as f:
            m = re.search(rf'name = "{re.escape(crate)}"\nversion = "([^"]+)"', f.read())
        return m.group(1) if m else "?"
    except OSError:
        return "?"


def parse_seconds(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", s.strip())
    if not m:
        raise SystemExit(f"bad duration {s!r} (e.g. 5s, 500ms, 1m)")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def make_tls(rundir):
    cert, key, pem = (os.path.join(rundir, x) for x in ("cert.pem", "key.pem", "cert+key.pem"))
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-days", "2", "-keyout", key, "-out", cert],
                       capture_output=True, start_new_session=True, text=True, timeout=30)
    if r.returncode:
        raise SystemExit("openssl req failed:\n" + r.stderr)
    with open(pem, "w") as out:
        for p in (cert, key):
            with open(p) as f:
                out.write(f.read())
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return dict(cert=cert, key=key, pem=pem, der=der)


def build_floor(rundir, sc, srcdir=os.path.join(HERE, "floor")):
    """Compile <srcdir>/<src> into the run directory; an error message if it cannot."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return f"no C compiler (cc) to build {sc['src']}"
    exe = os.path.join(rundir, sc["src"][:-2])
    r = subprocess.run([cc, "-O2", "-o", exe, os.path.join(srcdir, sc["src"])] + sc.get("libs", []),
                       capture_output=True, start_new_session=True, text=True, timeout=60)
    if r.returncode:
        return (f"cc {sc['src']} failed (io_uring needs liburing: apt-get install liburing-dev): "
                + r.stderr.strip()[:200])
    return None


def build_shim(rundir):
    """Compile no_resume.c (see there); None if there is no C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None, "no C compiler (cc) to build no_resume.so"
    so = os.path.join(rundir, "no_resume.so")
    r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", so, os.path.join(HERE, "no_resume.c"), "-ldl"],
                       capture_output=True, start_new_session=True, text=True, timeout=60)
    if r.returncode:
        return None, "cc no_resume.c failed: " + r.stderr.strip()[:200]
    return so, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="subset of: " + " ".join(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="5s", help="wrk -d of each measurement (default 5s)")
    ap.add_argument("--warmup", default="1s", help="unmeasured wrk run before each measurement (0 = none)")
    ap.add_argument("--conns", type=int, default=50, help="wrk -c (default 50)")
    ap.add_argument("--modes", default="keepalive,close", help="keepalive,close")
    ap.add_argument("--wrk-timeout", default="2s", help="wrk --timeout")
    ap.add_argument("--tls-resumption", action="store_true",
                    help="let wrk resume TLS sessions in close mode (default: force full handshakes)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--client-cpu", type=int, default=0, help="CPU for wrk and the backend")
    ap.add_argument("--proxy-port", type=int, default=28080)
    ap.add_argument("--backend-ports", default="28081,28082,28083")
    ap.add_argument("--status-port", type=int, default=28089)
    ap.add_argument("--start-timeout", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=0.3, help="pause after each measurement (s)")
    ap.add_argument("--out", help="results directory (default target/peers/<timestamp>)")
    ap.add_argument("--client", choices=("wrk", "cycle"), default="wrk",
                    help="load generator: wrk (default), or cycle_client.c (close mode, plain HTTP: "
                         "latency of the whole cycle, connect to response; a lighter client)")
    args = ap.parse_args()

    names = list(dict.fromkeys(args.scenarios or [n for n, sc in SCENARIOS.items() if not sc.get("optional")]))
    bad = [n for n in names if n not in SCENARIOS]
    if bad:
        raise SystemExit(f"unknown scenario(s) {bad}; known: {' '.join(SCENARIOS)}")
    if "direct" not in names:
        names.insert(0, "direct")
    args.modes = [m for m in args.modes.split(",") if m]
    if not args.modes or any(m not in ("keepalive", "close") for m in args.modes):
        raise SystemExit("--modes takes keepalive and/or close")
    if args.rounds < 1 or args.conns < 1:
        raise SystemExit("--rounds and --conns must be at least 1")
    if args.client == "cycle" and (args.modes != ["close"] or any(SCENARIOS[n].get("tls") for n in names)):
        raise SystemExit("--client cycle measures plain HTTP with a new connection per request: "
                         "use it with --modes close and without TLS scenarios")
    args.duration_s = parse_seconds(args.duration)
    args.warmup_s = parse_seconds(args.warmup)
    backend_ports = [int(p) for p in args.backend_ports.split(",")]
    if len(backend_ports) != 3:
        raise SystemExit("--backend-ports takes three ports")
    cpus = sorted(os.sched_getaffinity(0))
    if args.no_pin:
        args.proxy_cpu = args.client_cpu = None
    elif args.proxy_cpu not in cpus or args.client_cpu not in cpus or args.proxy_cpu == args.client_cpu:
        raise SystemExit(f"cannot pin proxy to CPU {args.proxy_cpu} and client to CPU {args.client_cpu} "
                         f"(usable CPUs: {cpus}); use --proxy-cpu/--client-cpu or --no-pin")

    # --- prerequisites -----------------------------------------------------------------------
    tools = ["nginx", "wrk", "openssl"] + (["taskset"] if not args.no_pin else [])
    if any(SCENARIOS[n]["kind"] == "haproxy" for n in names):
        tools.append("haproxy")
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise SystemExit(f"missing {' '.join(missing)} (Debian/Ubuntu: apt-get install nginx "
                         "libnginx-mod-stream haproxy wrk openssl util-linux)")
    stream_module = next((p for p in STREAM_MODULES if os.path.exists(p)), None)
    if "nginx-stream" in names and not stream_module:
        raise SystemExit("nginx stream module not found (Debian/Ubuntu: apt-get install libnginx-mod-stream)")
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    examples = os.path.join(target, "release", "examples")
    need = sorted({SCENARIOS[n]["exe"] for n in names if SCENARIOS[n]["kind"] == "lb"})
    absent = [e for e in need if not os.access(os.path.join(examples, e), os.X_OK)]
    if absent:
        raise SystemExit(f"missing {', '.join(absent)} in {examples}: run `cargo build --release --examples` "
                         "in the repository first")
    newest_src = 0.0
    for d in ("examples", "crates", "src"):
        for dp, _, fs in os.walk(os.path.join(ROOT, d)):
            for f in fs:
                if f.endswith(".rs") or f == "Cargo.toml":
                    newest_src = max(newest_src, os.path.getmtime(os.path.join(dp, f)))
    stale = [e for e in need if os.path.getmtime(os.path.join(examples, e)) < newest_src]
    if stale:
        log(f"warning: {', '.join(stale)} older than the newest source file; "
            "`cargo build --release --examples` may be due")
    ports = [args.proxy_port, args.status_port] + backend_ports
    if len(set(ports)) != len(ports):
        raise SystemExit("proxy, backend and status ports must differ")
    busy = [p for p in ports if port_busy(p)]
    if busy:
        raise SystemExit(f"port(s) {busy} on 127.0.0.1 already in use: not starting "
                         "(pick others with --proxy-port/--backend-ports/--status-port)")

    # --- run directory, output directory, signals ----------------------------------------------
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = args.out or os.path.join(target, "peers", stamp)
    logdir = os.path.join(outdir, "logs")
    os.makedirs(logdir, exist_ok=True)
    rundir = tempfile.mkdtemp(prefix="lb-peers-")
    os.makedirs(os.path.join(rundir, "tmp"))

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # children (nginx, haproxy, wrk) inherit this: raise the soft fd limit to the hard one
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass

    rows = []
    interrupted = False
    try:
        ctx = dict(rundir=rundir, logdir=logdir, examples=examples, proxy_port=args.proxy_port,
                   backend_ports=backend_ports, status_port=args.status_port, tls=None, client_env=None)
        fill = dict(RUNDIR=rundir, PORT=args.proxy_port, B1=backend_ports[0], B2=backend_ports[1],
                    B3=backend_ports[2], STATUS=args.status_port, STREAM_MODULE=stream_module or "",
                    DEFERRED="", DEFER_ACCEPT="", HALF_CLOSE="")
        full_handshakes, resumption = False, ""
        if any(SCENARIOS[n].get("tls") for n in names):
            ctx["tls"] = make_tls(rundir)
            fill.update(CERT=ctx["tls"]["cert"], KEY=ctx["tls"]["key"], PEM=ctx["tls"]["pem"])
            env = dict(os.environ, OPENSSL_CONF=os.path.join(CONF, "openssl-client.cnf"))
            if args.tls_resumption:
                resumption = ("wrk allowed to resume TLS sessions (--tls-resumption): close-mode TLS rows are "
                              "resumed handshakes")
            else:
                so, why = build_shim(rundir)
                if so:
                    env["LD_PRELOAD"] = so
                    full_handshakes = True
                    resumption = ("wrk runs with no_resume.so preloaded, so it never offers a session: "
                                  "every TLS connection is a full handshake")
                else:
                    resumption = (f"WARNING: {why}; wrk resumes TLS sessions, so close-mode TLS rows are "
                                  "mostly resumed handshakes")
                    log(resumption)
            ctx["client_env"] = env

        # render and syntax-check every config once
        for n in names:
            sc = SCENARIOS[n]
            if sc["kind"] in ("nginx", "haproxy"):
                conf = render(sc["conf"], {**fill, **sc.get("fill", {})}, conf_name(n, sc))
                chk = (["nginx", "-t", "-q", "-p", rundir + "/", "-e", os.path.join(rundir, "t.log"), "-c", conf]
                       if sc["kind"] == "nginx" else ["haproxy", "-c", "-q", "-f", conf])
                r = subprocess.run(chk, capture_output=True, start_new_session=True, text=True, timeout=30)
                if r.returncode:
                    raise SystemExit(f"config for {n} rejected:\n{r.stdout}{r.stderr}")
                shutil.copy(conf, logdir)
        if args.client == "cycle":
            err = build_floor(rundir, dict(src="cycle_client.c"), HERE)
            if err:
                raise SystemExit(f"--client cycle: {err}")
            args.cycle_exe = os.path.join(rundir, "cycle_client")
        for n in names:
            if SCENARIOS[n]["kind"] == "floor":
                err = build_floor(rundir, SCENARIOS[n])
                if err:
                    raise SystemExit(f"{n}: {err}")
        bconf = render("backend.conf", fill)
        shutil.copy(bconf, logdir)

        meta = dict(
            date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
            command="python3 " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
            cpu_model=next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                            if ln.startswith("model name")), "?"),
            ncpu=os.cpu_count(), kernel=os.uname().release,
            nginx=first_line(["nginx", "-v"]).replace("nginx version: ", ""),
            haproxy=" ".join(first_line(["haproxy", "-v"]).split()[:3]) if shutil.which("haproxy") else "haproxy n/a",
            wrk=" ".join(first_line(["wrk", "-v"]).split()[:2]), openssl=first_line(["openssl", "version"]),
            examples=os.path.relpath(examples, ROOT), rustls=lock_version("rustls"), tokio=lock_version("tokio"),
            full_handshakes=full_handshakes, resumption=resumption)

        backend = Proc("backend", pin(args.client_cpu, nginx_argv(bconf, rundir, os.path.join(rundir, "backend.err"))),
                       os.path.join(logdir, "backend.log"))
        for p in backend_ports + [args.status_port]:
            err = wait_listen(p, backend, args.start_timeout)
            if err:
                raise SystemExit(f"backend nginx: {err}\n{backend.text()[-2000:]}")
        log(f"backend nginx pid {backend.pid} on {backend_ports} (+ status {args.status_port}); output {outdir}")

        total = args.rounds * len(args.modes) * len(names)
        i = 0
        for rnd in range(1, args.rounds + 1):
            for mode in args.modes:
                for n in names:
                    i += 1
                    row = measure(args, ctx, n, mode, rnd)
                    rows.append(row)
                    write_csv(rows, os.path.join(outdir, "raw.csv"))
                    if "rps" in row:
                        extra = (f" {row.get('tls_cipher', '')}" if row.get("tls_cipher") else "")
                        log(f"{i:3d}/{total} r{rnd} {mode:9s} {n:14s} {row['rps']:>10,.0f} req/s  "
                            f"p50 {row['p50_ms']}ms p99 {row['p99_ms']}ms  proxy "
                            f"{row.get('proxy_cpu_pct', '-')}% {row.get('proxy_us_per_req', '-')}us/req  "
                            f"be conn/1k {row['be_conn_per_1k']}  {row['status']}{extra}")
                    else:
                        log(f"{i:3d}/{total} r{rnd} {mode:9s} {n:14s} {row['status']} {row.get('check', '')}")
                    if not backend.alive():
                        raise SystemExit("the backend nginx exited:\n" + backend.text()[-2000:])
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping what was started")
    finally:
        stop_all()
        shutil.rmtree(rundir, ignore_errors=True)
    if not rows:
        raise SystemExit(1)
    md = markdown(rows, [n for n in names if any(r["scenario"] == n for r in rows)], args, meta)
    if interrupted:
        md += "\n**Interrupted: partial results.**\n"
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {os.path.join(outdir, 'summary.md')} and raw.csv")
    failed = any(not any("rps" in r for r in rows if r["scenario"] == n and r["mode"] == m)
                 for n in names for m in args.modes)
    sys.exit(130 if interrupted else (1 if failed else 0))


if __name__ == "__main__":
    main()
