#!/usr/bin/env python3
"""Alternating comparison: every proxy running at once, the client switching between them.

    python3 benches/peers/ab.py [--slices 10] [--secs 3] SCENARIO[:ARG,ARG...] ...

run.py measures one proxy at a time, so a change in the machine's speed between two runs (this
VM's drifts 10-20 % within minutes, in steps that last tens of seconds) shows up as a
difference between proxies. Here all the scenarios are started at once, each on its own port
(proxy CPU, one worker each as in run.py), and the cycle client (cycle_client.c, built here;
connection per request, the whole cycle timed) runs short slices against each in turn, the
order reversed every slice. Each slice is compared with the first scenario's slice next to it,
and the medians of those ratios are printed: drift then hits both sides of every ratio alike.

SCENARIO is a run.py scenario name (lb ones need `cargo build --release --examples`);
`:ARG,ARG` appends arguments to an lb example's command line, e.g. `lb-l4:--accept-burst,1`.
Environment variables (LB_EVENT_INTERVAL) reach every lb scenario.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the scenarios, configs and process handling)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--slices", type=int, default=10)
    ap.add_argument("--secs", type=int, default=3, help="length of one slice")
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--mode", choices=("close", "keepalive"), default="close",
                    help="close: the cycle client, a new connection per request; keepalive: wrk")
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--client-cpu", type=int, default=0, help="CPU for the client and the backend")
    ap.add_argument("--port", type=int, default=18180, help="first proxy port (one per scenario)")
    ap.add_argument("--backend-ports", default="28181,28182,28183")
    ap.add_argument("--status-port", type=int, default=28180)
    args = ap.parse_args()

    specs = []
    for s in args.scenarios:
        name, _, extra = s.partition(":")
        if name not in run.SCENARIOS or name == "direct":
            raise SystemExit(f"{name}: not a proxy scenario of run.py")
        if run.SCENARIOS[name].get("tls"):
            raise SystemExit(f"{name}: the cycle client speaks plain HTTP only")
        specs.append((s, name, [a for a in extra.split(",") if a]))
    backend_ports = [int(p) for p in args.backend_ports.split(",")]
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc or not shutil.which("nginx"):
        raise SystemExit("needs cc and nginx (apt-get install gcc nginx libnginx-mod-stream haproxy)")
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(run.ROOT, "target")
    examples = os.path.join(target, "release", "examples")
    stream_module = next((p for p in run.STREAM_MODULES if os.path.exists(p)), "")
    rundir = tempfile.mkdtemp(prefix="lb-ab-")
    os.makedirs(os.path.join(rundir, "tmp"))
    client = os.path.join(rundir, "cycle_client")
    subprocess.run([cc, "-O2", "-o", client, os.path.join(run.HERE, "cycle_client.c")], check=True)

    procs = []
    try:
        fill = dict(RUNDIR=rundir, B1=backend_ports[0], B2=backend_ports[1], B3=backend_ports[2],
                    STATUS=args.status_port, STREAM_MODULE=stream_module, DEFERRED="",
                    DEFER_ACCEPT="", HALF_CLOSE="", PORT=0)
        bconf = run.render("backend.conf", fill)
        backend = run.Proc("backend", run.pin(args.client_cpu, run.nginx_argv(
            bconf, rundir, os.path.join(rundir, "backend.err"))), os.path.join(rundir, "backend.log"))
        procs.append(backend)
        for port in backend_ports:
            why = run.wait_listen(port, None, 10)
            if why:
                raise SystemExit(f"backend: {why}")
        ports = []
        for i, (label, name, extra) in enumerate(specs):
            sc = dict(run.SCENARIOS[name])
            sc["args"] = sc.get("args", []) + extra
            port = args.port + i
            sub = os.path.join(rundir, f"p{i}")
            os.makedirs(os.path.join(sub, "tmp"))
            ctx = dict(rundir=sub, examples=examples, proxy_port=port, backend_ports=backend_ports)
            if sc["kind"] in ("nginx", "haproxy"):
                run.render(sc["conf"], {**fill, "RUNDIR": sub, "PORT": port, **sc.get("fill", {})},
                           run.conf_name(name, sc))
            if sc["kind"] == "floor":
                why = run.build_floor(sub, sc)
                if why:
                    raise SystemExit(f"{label}: {why}")
            proc = run.Proc(label, run.pin(args.proxy_cpu, run.proxy_argv(name, sc, ctx)),
                            os.path.join(rundir, f"p{i}.log"))
            procs.append(proc)
            why = run.wait_listen(port, proc, 15)
            if why:
                raise SystemExit(f"{label}: {why} (log: {proc.logpath})")
            ports.append((label, port, proc))

        res = {label: [] for label, _, _ in ports}
        for k in range(args.slices):
            order = ports if k % 2 == 0 else ports[::-1]
            for label, port, proc in order:
                if args.mode == "close":
                    argv = [client, str(port), str(args.conns), str(args.secs), "0"]
                else:
                    argv = ["wrk", "-t1", f"-c{args.conns}", f"-d{args.secs}s", "--latency",
                            f"http://{run.HOST}:{port}/"]
                t0, _ = run.tree_cpu(proc.pid)
                out = subprocess.run(run.pin(args.client_cpu, argv), capture_output=True, text=True,
                                     timeout=args.secs + 30).stdout
                t1, _ = run.tree_cpu(proc.pid)
                got = run.parse_wrk(out)
                if not got or got["errors"]:
                    raise SystemExit(f"{label}: no clean result from {argv[0]}:\n{out}")
                rps = got["rps"]
                us = (t1 - t0) / run.CLK_TCK * 1e6 / max(rps * args.secs, 1)
                res[label].append((rps, got["p50_ms"], got["p90_ms"], got["p99_ms"], us))
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(rundir, ignore_errors=True)

    base = ports[0][0]
    med = statistics.median
    how = ("a new one per request (cycle client: the whole cycle timed)" if args.mode == "close"
           else "keep-alive (wrk: latency from request write to response)")
    print(f"{args.slices} slices of {args.secs} s each, {args.conns} connections, {how}; medians; "
          f"ratios paired per slice against {base}")
    print(f"| scenario | req/s | p50 ms | p90 ms | p99 ms | µs/req | req/s x | p90 ± ms | p99 ± ms | CPU x |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, _, _ in ports:
        r, b = res[label], res[base]
        print(f"| {label} | {med(x[0] for x in r):,.0f} | {med(x[1] for x in r):.2f} | "
              f"{med(x[2] for x in r):.2f} | {med(x[3] for x in r):.2f} | {med(x[4] for x in r):.1f} | "
              f"{med(a[0] / c[0] for a, c in zip(r, b)):.3f} | {med(a[2] - c[2] for a, c in zip(r, b)):+.2f} | "
              f"{med(a[3] - c[3] for a, c in zip(r, b)):+.2f} | {med(a[4] / c[4] for a, c in zip(r, b)):.3f} |")


if __name__ == "__main__":
    main()
