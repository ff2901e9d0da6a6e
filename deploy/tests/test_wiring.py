#!/usr/bin/env python3
"""Wiring assertions on the rendered chart (run by .ci/deploy-checks.sh).

usage: test_wiring.py --chart-values VALUES --aws DIR [--nginx NGINX] PRESET=RENDERED.yaml...

Checks, per rendered preset:
  * gateway: every compactor path goes to the loki-compactor Service, nothing else does
    (nginx location matching simulated, and, when --nginx is given, a live run of the
    rendered nginx.conf against loopback echo upstreams);
  * no container except loki-compactor runs the compactor module (explicit -target
    everywhere, never `all`/`backend`/`compactor`), backend has the index-gateway client fix;
  * loki-compactor: one replica, single-writer strategy, PDB maxUnavailable 1, IRSA SA,
    /ready probes, resources, ServiceMonitor, same Loki ConfigMap, not in memberlist;
  * Loki config: compactor address points at loki-compactor, retention on, tenant retention;
  * Fluent Bit: exact label names, which cover every label the LogQL examples use; tenants;
    retry_limit != 1; filesystem buffering; tolerations; resources;
  * NetworkPolicies: default deny, Fluent Bit egress only to the gateway (+DNS, API server);
  * compliance CronJob: its `loki-inspect replicate` arguments parse with the real CLI's flags
    (deploy/tests/loki-inspect-replicate.help), one source, the tenant and bucket of values.yaml;
  * S3 lifecycle: expiration > retention + retention_delete_delay for every tenant prefix,
    never on index/ or loki-compactor/; IAM: only the compactor role may delete chunks.
"""
import argparse
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import yaml

FAILS = []
PASSES = [0]


def check(cond, msg):
    if cond:
        PASSES[0] += 1
    else:
        FAILS.append(msg)
        print(f"FAIL: {msg}", file=sys.stderr)


DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def seconds(d):
    total, pos = 0.0, 0
    for m in DURATION.finditer(str(d)):
        total += float(m.group(1)) * UNIT[m.group(2)]
        pos = m.end()
    assert pos == len(str(d)), f"bad duration {d!r}"
    return total


# LogQL from the README / issue (the seed's examples) plus the dashboards'.
LOGQL_EXAMPLES = [
    'sum(rate({k8s_namespace_name="game-servers"} |= "error" [5m])) by (k8s_labels_app)',
    'quantile_over_time(0.95, {k8s_labels_app="game-api"} | json | unwrap latency_ms [5m]) by (k8s_labels_app)',
    '{k8s_namespace_name="game-servers", k8s_pod_name=~"game-api-.*", k8s_container_name="game-api", stream="stderr"}',
]
FLUENT_BIT_LABELS = {"k8s_namespace_name", "k8s_pod_name", "k8s_container_name", "k8s_labels_app", "stream"}

# Requests and the upstream that must serve them.
ROUTES = [
    ("POST", "/loki/api/v1/delete?query=%7Bapp%3D%22x%22%7D&start=1&end=2", "compactor"),
    ("GET", "/loki/api/v1/delete", "compactor"),
    ("DELETE", "/loki/api/v1/delete?request_id=abc", "compactor"),
    ("PUT", "/loki/api/v1/delete?query=%7Bapp%3D%22x%22%7D", "compactor"),
    ("GET", "/loki/api/v1/cache/generation_numbers", "compactor"),
    ("POST", "/loki/api/v1/cache/generation_numbers/increase", "compactor"),
    ("GET", "/compactor/ring", "compactor"),
    ("GET", "/compactor/ui/api/v1/deletes", "compactor"),
    ("GET", "/loki/api/v1/query_range?query=x", "read"),
    ("GET", "/loki/api/v1/labels", "read"),
    ("GET", "/loki/api/v1/tail", "read"),
    ("POST", "/loki/api/v1/push", "write"),
    ("POST", "/otlp/v1/logs", "write"),
    ("GET", "/loki/api/v1/rules", "backend"),
    ("GET", "/prometheus/api/v1/rules", "backend"),
    ("GET", "/indexgateway/ring", "backend"),
    ("GET", "/scheduler/ring", "backend"),
]
COMPACTOR_PATHS = ["/loki/api/v1/delete", "/loki/api/v1/cache/generation_numbers", "/compactor/"]


def parse_locations(conf):
    """[(modifier, path, upstream_host)] of `location` blocks with a proxy_pass."""
    out = []
    for m in re.finditer(r"location\s+(=|\^~)?\s*(\S+)\s*\{(.*?)\}", conf, re.S):
        pp = re.search(r"proxy_pass\s+http://([^:/$;]+)", m.group(3))
        out.append((m.group(1) or "", m.group(2), pp.group(1) if pp else None))
    return out


def nginx_route(locs, path):
    """nginx matching for `=` and `^~` locations: exact first, then the longest prefix."""
    path = path.split("?")[0]
    for mod, p, up in locs:
        if mod == "=" and p == path:
            return up
    best = None
    for mod, p, up in locs:
        if mod in ("^~", "") and path.startswith(p) and (best is None or len(p) > len(best[0])):
            best = (p, up)
    return best[1] if best else None


def component_of_host(host, release, ns):
    m = re.match(rf"{re.escape(release)}-([a-z-]+)\.{re.escape(ns)}\.svc\.", host or "")
    return m.group(1) if m else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def live_nginx_routing(nginx, conf, release, ns, preset):
    """Runs the rendered nginx.conf with the Service hosts swapped for loopback echo servers."""
    servers, ports = [], {}
    for comp in ("write", "read", "backend", "compactor"):
        class H(http.server.BaseHTTPRequestHandler):
            name = comp

            def reply(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                body = json.dumps({"upstream": self.name, "path": self.path,
                                   "tenant": self.headers.get("X-Scope-OrgID")}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = reply

            def log_message(self, *a):
                pass
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        ports[comp] = srv.server_address[1]
    listen = free_port()
    local = conf
    for comp, port in ports.items():
        local = re.sub(rf"http://{re.escape(release)}-{comp}\.{re.escape(ns)}\.svc\.[a-z.]+:3100",
                       f"http://127.0.0.1:{port}", local)
    local = re.sub(r"resolver\s+[^;]+;", "resolver 127.0.0.1;", local)
    local = re.sub(r"listen\s+\[::\]:8080;", "", local)
    local = re.sub(r"listen\s+8080;", f"listen 127.0.0.1:{listen};", local)
    local = local.replace("/tmp/", "TMPDIR/")
    tmp = tempfile.mkdtemp(prefix="gw-")
    local = local.replace("TMPDIR/", tmp + "/")
    path = os.path.join(tmp, "nginx.conf")
    open(path, "w").write(local)
    proc = subprocess.Popen([nginx, "-e", "stderr", "-c", path, "-p", tmp, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("nginx exited: " + proc.stderr.read().decode())
                time.sleep(0.05)
        for method, url, want in ROUTES:
            req = urllib.request.Request(f"http://127.0.0.1:{listen}{url}", method=method,
                                         headers={"X-Scope-OrgID": "game-platform"},
                                         data=b"{}" if method in ("POST", "PUT") else None)
            with urllib.request.urlopen(req, timeout=5) as r:
                got = json.loads(r.read())
            check(got["upstream"] == want, f"{preset}: live nginx {method} {url} -> {got['upstream']}, want {want}")
            check(got["path"] == url, f"{preset}: live nginx rewrote {url} to {got['path']}")
            check(got["tenant"] == "game-platform", f"{preset}: live nginx dropped X-Scope-OrgID on {url}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for s in servers:
            s.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def containers(doc):
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec.get("template", {}).get("spec", {})
    return pod, pod.get("containers", []) + pod.get("initContainers", [])


REPLICATE_HELP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loki-inspect-replicate.help")


def cli_flags(help_text):
    """Long flags of a clap `--help` text: name -> True when the flag takes a value."""
    flags = {}
    for line in help_text.splitlines():
        m = re.match(r"^\s+(?:-\w, )?--([A-Za-z0-9][\w.-]*)(\s+[<\[])?", line)
        if m:
            flags[m.group(1)] = m.group(2) is not None
    return flags


def parse_cli_args(args, flags):
    """Parses args as loki-inspect does (Loki's single-dash `-config.file=` form is accepted):
    returns ({flag: value or True}, [errors])."""
    got, errors, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a == "-" or re.match(r"^-\w$", a):
            errors.append(f"unexpected argument {a!r}")
            i += 1
            continue
        name, eq, value = a.lstrip("-").partition("=")
        if name not in flags:
            errors.append(f"unknown flag {a!r}")
        elif flags[name]:
            if not eq:
                if i + 1 >= len(args):
                    errors.append(f"{a!r} needs a value")
                    break
                i += 1
                value = args[i]
            if not value:
                errors.append(f"{a!r} has an empty value")
            got[name] = value
        elif eq:
            errors.append(f"{a!r} takes no value")
        else:
            got[name] = True
        i += 1
    return got, errors


def check_compliance_cronjob(preset, by, name, values):
    """The compliance CronJob's arguments parse with the real `loki-inspect replicate`
    (flags from its --help, kept current by crates/loki-inspect/tests/replicate_query.rs)."""
    cj = by.get("CronJob", {}).get(name("compliance"))
    if not values.get("compliance", {}).get("enabled"):
        check(cj is None, f"{preset}: compliance CronJob rendered while disabled")
        return
    check(cj is not None, f"{preset}: compliance CronJob")
    if cj is None:
        return
    pod, cs = containers(cj)
    c = cs[0]
    check(c["command"] == ["/usr/local/bin/loki-inspect"], f"{preset}: compliance command {c['command']}")
    args = c.get("args", [])
    check(args[:1] == ["replicate"], f"{preset}: compliance job runs `loki-inspect replicate`, got {args[:1]}")
    help_text = open(REPLICATE_HELP).read()
    check(help_text.startswith("Copy chunks and index between buckets"), "replicate help snapshot looks wrong")
    usage = re.search(r"^Usage: loki-inspect replicate (.*)$", help_text, re.M)
    required = re.findall(r"--([\w.-]+) <", usage.group(1)) if usage else []
    check(required == ["to-store"], f"replicate required flags {required}")
    flags = cli_flags(help_text)
    check({"config.file", "from-store", "to-store", "tenant", "from", "to", "json"} <= set(flags),
          f"replicate --help flags {sorted(flags)}")
    got, errors = parse_cli_args(args[1:], flags)
    for e in errors:
        check(False, f"{preset}: compliance args: {e}")
    for r in required:
        check(r in got, f"{preset}: compliance args miss required --{r}")
    check(("config.file" in got) != ("from-store" in got),
          f"{preset}: compliance args need exactly one source (--config.file or --from-store)")
    tenant = values["compliance"]["tenant"]
    check(got.get("tenant") == tenant, f"{preset}: compliance --tenant {got.get('tenant')} != {tenant}")
    bucket = values["aws"]["buckets"]["compliance"]
    check(str(got.get("to-store", "")).startswith(f"s3://{bucket}/"),
          f"{preset}: compliance --to-store {got.get('to-store')} is not in the compliance bucket {bucket}")
    mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
    cfg = got.get("config.file")
    if cfg:
        check(any(cfg.startswith(m.rstrip("/") + "/") for m in mounts),
              f"{preset}: compliance --config.file {cfg} not under a mounted volume {mounts}")
        vols = {v["name"]: v for v in pod["volumes"]}
        vm = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        check(vols[vm["/etc/loki"]].get("configMap", {}).get("name") == name("config"),
              f"{preset}: compliance job reads the shared Loki config")


def check_preset(preset, docs, release, ns, values, aws, nginx):
    by = {}
    for d in docs:
        by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    name = lambda c: f"{release}-{c}"

    # ---- Loki config ----
    cm = by["ConfigMap"][name("config")]
    cfg = yaml.safe_load(cm["data"]["config.yaml"])
    overrides = yaml.safe_load(cm["data"]["overrides.yaml"])["overrides"]
    comp_host = f"{name('compactor')}.{ns}.svc.cluster.local"
    common = cfg["common"]
    if common.get("compactor_grpc_address"):
        check(common["compactor_grpc_address"] == f"{comp_host}:9095", f"{preset}: compactor_grpc_address")
    else:
        check(common.get("compactor_address") == f"http://{comp_host}:3100",
              f"{preset}: common.compactor_address must be http://{comp_host}:3100, is {common.get('compactor_address')}")
        check(common.get("compactor_grpc_address") == "", f"{preset}: compactor_grpc_address must be empty in http mode")
    check(cfg["compactor"]["retention_enabled"] is True, f"{preset}: compactor.retention_enabled (queriers filter deletes only with it)")
    check(all(p["store"] == "tsdb" and p["schema"] == "v13" for p in cfg["schema_config"]["configs"][-1:]),
          f"{preset}: newest schema period is tsdb v13")
    default_ret = seconds(cfg["limits_config"]["retention_period"])
    check(default_ret == 30 * 86400, f"{preset}: default retention 30d, is {default_ret}")
    check(seconds(overrides["audit"]["retention_period"]) == 90 * 86400, f"{preset}: audit retention 90d")
    check(seconds(overrides.get("game-platform", {}).get("retention_period", "720h")) == 30 * 86400,
          f"{preset}: game-platform retention 30d")
    delay = seconds(cfg["compactor"].get("retention_delete_delay", "2h"))

    # ---- gateway ----
    conf = by["ConfigMap"][name("gateway")]["data"]["nginx.conf"]
    locs = parse_locations(conf)
    for method, url, want in ROUTES:
        got = component_of_host(nginx_route(locs, url), release, ns)
        check(got == want, f"{preset}: nginx {method} {url} -> {got}, want {want}")
    for mod, p, up in locs:
        comp = component_of_host(up, release, ns)
        is_compactor_path = any(p == c or p.startswith(c) for c in COMPACTOR_PATHS) or p == "/loki/api/v1/delete"
        if is_compactor_path:
            check(comp == "compactor", f"{preset}: location {p} must go to the compactor, goes to {comp}")
        elif up:
            check(comp != "compactor", f"{preset}: location {p} goes to the compactor")
    if nginx:
        live_nginx_routing(nginx, conf, release, ns, preset)

    # ---- targets: nobody but loki-compactor runs the compactor ----
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")]
    compactor_like = []
    for w in workloads:
        _, cs = containers(w)
        for c in cs:
            args = c.get("args", []) + c.get("command", [])
            targets = [a.split("=", 1)[1] for a in args if a.startswith("-target=") or a.startswith("--target=")]
            if "grafana/loki" in c["image"]:
                check(len(targets) == 1, f"{preset}: {w['metadata']['name']} must pass -target explicitly (default is all)")
                mods = set(targets[0].split(",")) if targets else {"all"}
                check(not mods & {"all", "backend", "compactor"},
                      f"{preset}: {w['metadata']['name']} runs {sorted(mods)}: contains the compactor module")
                if w["metadata"]["name"] == name("backend"):
                    check(mods == {"index-gateway", "query-scheduler", "ruler"}, f"{preset}: backend targets {sorted(mods)}")
                    check("-tsdb.shipper.index-gateway-client.server-address=" in args,
                          f"{preset}: backend needs -tsdb.shipper.index-gateway-client.server-address= (empty)")
            if any("compactor" in t.split(",") for t in targets):
                compactor_like.append(w["metadata"]["name"])
    check(compactor_like == [name("compactor")], f"{preset}: compactor module only in loki-compactor, found in {compactor_like}")

    check_compliance_cronjob(preset, by, name, values)

    # ---- loki-compactor workload ----
    sts = by.get("StatefulSet", {}).get(name("compactor"))
    dep = by.get("Deployment", {}).get(name("compactor"))
    w = sts or dep
    check(w is not None, f"{preset}: loki-compactor workload")
    check(w["spec"].get("replicas") == 1, f"{preset}: loki-compactor replicas must be 1")
    if dep:
        check(dep["spec"].get("strategy", {}).get("type") == "Recreate", f"{preset}: Deployment needs Recreate")
    pod, cs = containers(w)
    c = cs[0]
    check("-config.file=/etc/loki/config.yaml" in c["args"] and "-target=compactor" in c["args"],
          f"{preset}: compactor args {c['args']}")
    for probe in ("readinessProbe", "livenessProbe"):
        check(c.get(probe, {}).get("httpGet", {}).get("path") == "/ready", f"{preset}: compactor {probe} on /ready")
    check(c.get("resources", {}).get("requests") and c["resources"].get("limits"), f"{preset}: compactor resources")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    check(vols[mounts["/etc/loki"]].get("configMap", {}).get("name") == name("config"),
          f"{preset}: compactor mounts the shared Loki config")
    loki_cms = set()
    for wl in workloads:
        p, cc = containers(wl)
        for ct in cc:
            if "grafana/loki" in ct["image"]:
                vm = {m["mountPath"]: m["name"] for m in ct["volumeMounts"]}
                vv = {v["name"]: v for v in p["volumes"]}
                loki_cms.add(vv[vm["/etc/loki"]]["configMap"]["name"])
    check(loki_cms == {name("config")}, f"{preset}: all Loki pods use the same config: {loki_cms}")
    labels = w["spec"]["template"]["metadata"]["labels"]
    check("app.kubernetes.io/part-of" not in labels, f"{preset}: compactor must not join memberlist")
    sa = by["ServiceAccount"][pod["serviceAccountName"]]
    check(sa["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn", "").endswith(":role/loki-compactor"),
          f"{preset}: compactor IRSA role")
    pdb = by["PodDisruptionBudget"][name("compactor")]
    check(pdb["spec"].get("maxUnavailable") == 1 and "minAvailable" not in pdb["spec"],
          f"{preset}: compactor PDB maxUnavailable 1")
    svc = by["Service"][name("compactor")]
    check({p["port"] for p in svc["spec"]["ports"]} >= {3100}, f"{preset}: compactor Service port 3100")
    check(all(svc["spec"]["selector"].get(k) == v for k, v in w["spec"]["selector"]["matchLabels"].items()),
          f"{preset}: compactor Service selects the StatefulSet")
    sm = by.get("ServiceMonitor", {}).get(name("compactor"))
    check(sm and sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(),
          f"{preset}: ServiceMonitor selects the compactor Service")
    ml = by["Service"][name("memberlist")]["spec"]["selector"]
    check(not (ml.items() <= labels.items()), f"{preset}: memberlist Service must not select the compactor")

    # ---- Fluent Bit ----
    fb = yaml.safe_load(by["ConfigMap"][name("fluent-bit")]["data"]["fluent-bit.yaml"])
    outs = [o for o in fb["pipeline"]["outputs"] if o["name"] == "loki"]
    check({o["tenant_id"] for o in outs} == {"game-platform", "audit"}, f"{preset}: Fluent Bit tenants")
    logql_labels = set()
    for q in LOGQL_EXAMPLES + [t["expr"] for d in DASHBOARDS if d["uid"] == "game-server-logs"
                               for p in d["panels"] for t in p["targets"]]:
        for sel in re.findall(r"\{([^}]*)\}", q):
            logql_labels |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", sel))
    for o in outs:
        names = {kv.split("=", 1)[0].strip() for kv in o["labels"].split(",")}
        check(FLUENT_BIT_LABELS <= names, f"{preset}: Fluent Bit labels {sorted(names)} miss {FLUENT_BIT_LABELS - names}")
        check(logql_labels <= names, f"{preset}: LogQL uses labels Fluent Bit does not set: {logql_labels - names}")
        check(str(o.get("retry_limit")) not in ("1", "None", "False"), f"{preset}: Fluent Bit retry_limit {o.get('retry_limit')}")
        check("trace_id=" in o.get("structured_metadata", ""), f"{preset}: trace ids as structured metadata")
        check(o["host"] == f"{name('gateway')}.{ns}.svc.cluster.local", f"{preset}: Fluent Bit pushes to the gateway")
    tail = fb["pipeline"]["inputs"][0]
    check(tail["path"] == "/var/log/containers/*.log" and tail["multiline.parser"].startswith("cri"), f"{preset}: tail input")
    check(tail.get("storage.type") == "filesystem" and fb["service"].get("storage.path"), f"{preset}: filesystem buffering")
    ml_filter = fb["pipeline"]["filters"][0]
    check(ml_filter["name"] == "multiline" and {"go", "java", "python"} <= {x.strip() for x in ml_filter["multiline.parser"].split(",")},
          f"{preset}: multiline filter first with go/java/python")
    ds = by["DaemonSet"][name("fluent-bit")]
    dpod = ds["spec"]["template"]["spec"]
    check({"operator": "Exists"} in dpod.get("tolerations", []), f"{preset}: Fluent Bit tolerates all taints")
    req = dpod["containers"][0]["resources"]["requests"]
    check(req == {"cpu": "100m", "memory": "128Mi"}, f"{preset}: Fluent Bit requests {req}")

    # ---- NetworkPolicies ----
    nps = by.get("NetworkPolicy", {})
    deny = nps.get(name("default-deny"))
    check(deny and deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"},
          f"{preset}: default-deny NetworkPolicy")
    fbnp = nps[name("fluent-bit")]
    gw_sel = by["Deployment"][name("gateway")]["spec"]["selector"]["matchLabels"]
    pod_peers = [p for e in fbnp["spec"]["egress"] for p in e["to"] if "podSelector" in p]
    check(len(pod_peers) == 1 and pod_peers[0]["podSelector"]["matchLabels"] == gw_sel,
          f"{preset}: Fluent Bit egress only to the gateway pods")
    cnp = nps[name("compactor")]
    froms = [p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
             for r in cnp["spec"]["ingress"] for p in r["from"]]
    check({"read", "backend", "gateway"} <= set(froms), f"{preset}: compactor ingress from read/backend/gateway: {froms}")

    # ---- S3 lifecycle vs retention ----
    life = json.load(open(os.path.join(aws, "lifecycle-chunks.json")))
    forbidden = ("index/", "loki-compactor/", "loki_cluster_seed.json")
    tenants = {"game-platform": overrides.get("game-platform", {}), "audit": overrides["audit"]}
    seen = set()
    for r in life["Rules"]:
        prefix = r.get("Filter", {}).get("Prefix", r.get("Prefix"))
        exp_days = r.get("Expiration", {}).get("Days")
        if not prefix:
            check(exp_days is None and not r.get("Transitions"),
                  f"lifecycle rule {r['ID']}: whole-bucket rules may only expire noncurrent versions/markers")
            continue
        check(not any(prefix.startswith(f) or f.startswith(prefix) for f in forbidden),
              f"lifecycle rule {r['ID']} touches {prefix}")
        tenant = prefix.rstrip("/")
        if exp_days is not None:
            lim = tenants.get(tenant, {})
            ret = max([seconds(lim.get("retention_period", cfg["limits_config"]["retention_period"]))] +
                      [seconds(s["period"]) for s in lim.get("retention_stream", [])])
            check(exp_days * 86400 > ret + delay,
                  f"lifecycle {r['ID']}: expiration {exp_days}d must exceed retention {ret / 86400:.2f}d + delay {delay / 3600:.1f}h")
            seen.add(tenant)
        for t in r.get("Transitions", []):
            check(t["Days"] >= 7, f"lifecycle {r['ID']}: transition before 7 days")
    check(seen == set(tenants), f"lifecycle covers tenants {sorted(seen)}, want {sorted(tenants)}")


DASHBOARDS = []


def check_aws(aws, values):
    b = values["aws"]["buckets"]
    loki = json.load(open(os.path.join(aws, "iam-loki.json")))
    comp = json.load(open(os.path.join(aws, "iam-compactor.json")))
    deletes = [s for s in loki["Statement"] if "s3:DeleteObject" in s["Action"]]
    check(all(f"arn:aws:s3:::{b['chunks']}/*" not in s["Resource"] for s in deletes),
          "Loki's role must not delete chunks (only loki-compactor does)")
    check(any("s3:DeleteObject" in s["Action"] and f"arn:aws:s3:::{b['chunks']}/*" in s["Resource"] for s in comp["Statement"]),
          "loki-compactor role deletes chunks")
    for f in os.listdir(aws):
        if f.endswith(".json"):
            text = open(os.path.join(aws, f)).read()
            json.loads(text)
            for m in re.findall(r"arn:aws:s3:::([a-z0-9.-]+)", text):
                check(m in b.values(), f"{f}: bucket {m} not in values.yaml aws.buckets")
    for f in ("bucket-policy-chunks.json", "bucket-policy-ruler.json", "bucket-policy-admin.json", "bucket-policy-compliance.json"):
        pol = json.load(open(os.path.join(aws, f)))
        check(any(s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                  for s in pol["Statement"]), f"{f}: TLS-only statement")
    check(json.load(open(os.path.join(aws, "versioning.json")))["Status"] == "Enabled", "versioning on")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chart", required=True)
    ap.add_argument("--aws", required=True)
    ap.add_argument("--nginx")
    ap.add_argument("--release", default="loki")
    ap.add_argument("--namespace", default="loki")
    ap.add_argument("rendered", nargs="+")
    a = ap.parse_args()
    values = yaml.safe_load(open(os.path.join(a.chart, "values.yaml")))
    for f in sorted(os.listdir(os.path.join(a.chart, "files", "dashboards"))):
        DASHBOARDS.append(json.load(open(os.path.join(a.chart, "files", "dashboards", f))))
    check_aws(a.aws, values)
    for item in a.rendered:
        preset, path = item.split("=", 1)
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
        check_preset(preset, docs, a.release, a.namespace, values, a.aws, a.nginx)
    print(f"wiring: {PASSES[0]} assertions passed, {len(FAILS)} failed")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
