#!/usr/bin/env python3
"""The probes of the issue "Nothing lost, nothing doubled, nothing crashes", run against one
`usage-connector` binary, so a build before and after a change can be compared:

    python3 scripts/probes.py --bin target/debug/usage-connector

Each probe prints one line `PROBE name: figure`. The identical-pairs probe raises lost responses
to 30 % so the old merge shows within 60 pairs. Everything runs on loopback against the
binary's own sandbox (`usage-connector sandbox`); nothing here needs the network.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def start_sandbox(bin_, *args, max_files=None):
    def limit():
        if max_files:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))
    p = subprocess.Popen([bin_, "sandbox", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         preexec_fn=limit)
    url = p.stdout.readline().strip().removeprefix("listening on ")
    keys = [p.stdout.readline() for _ in range(4)]
    rebilly = next(k.split()[2] for k in keys if "USAGES.CREATE" in k and "METER" not in k)
    solvimon = next(k.split()[2] for k in keys if "METER_DATA.INGEST" in k and "USAGES" not in k)
    return p, url, rebilly, solvimon


def http(method, url, key_header=None, key=None, body=None, timeout=10):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if key:
        req.add_header(key_header, key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except Exception as e:  # a timeout, a reset
        return type(e).__name__, None


def call(bin_, url, key, body, *extra, env=None):
    e = dict(os.environ, REBILLY_API_KEY=key, **(env or {}))
    out = subprocess.run([bin_, "call", "rebilly.create-usage", "--body", "-", "--server", url, *extra],
                         input=json.dumps(body), capture_output=True, text=True, env=e, timeout=120)
    try:
        return out.returncode, json.loads(out.stdout), out.stderr
    except json.JSONDecodeError:
        return out.returncode, {}, out.stderr


def count_usages(url, key):
    status, items = http("GET", f"{url}/usages?limit=1000", "REB-APIKEY", key)
    return len(items) if isinstance(items, list) else f"read failed ({status})"


def probe_pairs(bin_, state):
    p, url, key, _ = start_sandbox(bin_, "--faults", "503=0.2,429=0.1,reset=0.05,lost-response=0.3", "--seed", "5")
    body = {"subscriptionId": "sub_unlimited", "quantity": 1.5, "usageTime": "2025-06-01T00:00:00Z"}
    merged = 0
    for i in range(60):
        results = [None, None]

        def one(j):
            results[j] = call(bin_, url, key, body, env={"XDG_STATE_HOME": state})
        ts = [threading.Thread(target=one, args=(j,)) for j in range(2)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        ids = [r[1].get("body", {}).get("id") for r in results if r[0] == 0]
        if len(ids) == 2 and ids[0] == ids[1]:
            merged += 1
    p.kill()
    print(f"PROBE identical pairs from two processes, both exit 0 with one usage id: {merged} of 60")


def probe_rerun(bin_, state):
    p, url, key, _ = start_sandbox(bin_)
    body = {"subscriptionId": "sub_unlimited", "quantity": 2}
    for _ in range(2):
        call(bin_, url, key, body, "--workflow-id", "probe-rerun", env={"XDG_STATE_HOME": state})
    print(f"PROBE the same call twice with one --workflow-id, usages recorded: {count_usages(url, key)}")
    p.kill()


def probe_unknown(bin_, state):
    p, url, key, _ = start_sandbox(bin_, "--faults", "503=0.2,429=0.1,reset=0.05,lost-response=0.1", "--seed", "9")
    codes, charged_failures = {}, 0
    for i in range(200):
        body = {"subscriptionId": "sub_unlimited", "quantity": 1, "usageTime": f"2025-07-01T00:{i // 60:02}:{i % 60:02}Z"}
        rc, out, _ = call(bin_, url, key, body, env={"XDG_STATE_HOME": state})
        code = "ok" if rc == 0 else out.get("code", "?")
        codes[code] = codes.get(code, 0) + 1
        if code == "RETRIES_EXHAUSTED":
            status, found = http("GET", f"{url}/usages?filter=usageTime:{body['usageTime']}", "REB-APIKEY", key)
            if found:
                charged_failures += 1
    p.kill()
    print(f"PROBE 200 calls under faults, outcomes {dict(sorted(codes.items()))}; "
          f"RETRIES_EXHAUSTED that had in fact been recorded: {charged_failures}")


def probe_brick(bin_, state):
    p, url, key, _ = start_sandbox(bin_, "--state", str(Path(state) / "brick.state"))
    first = [http("POST", f"{url}/usages", "REB-APIKEY", key, {"subscriptionId": "sub_unlimited", "quantity": 7e28})[0]
             for _ in range(2)]
    after = http("POST", f"{url}/usages", "REB-APIKEY", key, {"subscriptionId": "sub_unlimited", "quantity": 1})[0]
    p.kill()
    p.wait()
    try:
        p2, url2, key2, _ = start_sandbox(bin_, "--state", str(Path(state) / "brick.state"))
        restarted = http("POST", f"{url2}/usages", "REB-APIKEY", key2, {"subscriptionId": "sub_unlimited", "quantity": 1})[0]
        p2.kill()
    except Exception as e:
        restarted = f"restart failed ({type(e).__name__})"
    print(f"PROBE two POSTs of 7e28: answers {first}; the next normal POST: {after}; after a restart: {restarted}")


def probe_idle(bin_, _state):
    # The sandbox runs under `ulimit -n 1024`, as in the issue.
    p, url, key, _ = start_sandbox(bin_, max_files=1024)
    host, port = url.removeprefix("http://").split(":")
    socks = []
    for _ in range(600):
        s = socket.create_connection((host, int(port)))
        socks.append(s)
    t = time.time()
    status = http("POST", f"{url}/usages", "REB-APIKEY", key, {"subscriptionId": "sub_unlimited", "quantity": 1}, timeout=5)[0]
    print(f"PROBE {len(socks)} idle sockets open, then a normal POST: {status} after {time.time() - t:.2f} s")
    for s in socks:
        s.close()
    p.kill()


def probe_conditions(bin_, state):
    d = Path(state)
    deep = {"name": "n", "startTask": "D", "tasks": {
        "D": {"type": "Decision", "choices": [{"condition": "(" * 1600 + "$.a" + ")" * 1600, "nextTask": "E"}], "defaultTask": "E"},
        "E": {"type": "Terminate", "terminationStatus": "Completed"}}}
    (d / "deep.json").write_text(json.dumps(deep))
    rc = subprocess.run([bin_, "validate", str(d / "deep.json")], capture_output=True).returncode
    deeper = dict(deep)
    deeper["tasks"] = dict(deep["tasks"], D=dict(deep["tasks"]["D"], choices=[{"condition": "(" * 100000 + "$.a" + ")" * 100000, "nextTask": "E"}]))
    (d / "deeper.json").write_text(json.dumps(deeper))
    rc_deeper = subprocess.run([bin_, "validate", str(d / "deeper.json")], capture_output=True).returncode
    chain = dict(deep)
    chain["tasks"] = dict(deep["tasks"], D=dict(deep["tasks"]["D"], choices=[{"condition": " && ".join(["$.a > 0"] * 10000), "nextTask": "E"}]))
    (d / "chain.json").write_text(json.dumps(chain))
    rc2 = subprocess.run([bin_, "run", str(d / "chain.json"), "--input", '{"a": 1}'], capture_output=True,
                         env=dict(os.environ, XDG_STATE_HOME=state)).returncode
    print(f"PROBE validate with 1,600 / 100,000 nested parentheses: exit {rc} / {rc_deeper}; "
          f"run with a 10,000-term && chain: exit {rc2}")


def probe_files(bin_, state):
    d = Path(state) / "walk"
    (d / "a").mkdir(parents=True, exist_ok=True)
    (d / "a" / "up").symlink_to("..")
    (d / "a" / "up2").symlink_to("..")
    try:
        t = time.time()
        r = subprocess.run([bin_, "validate", str(d)], capture_output=True, timeout=20)
        walk = f"exit {r.returncode} in {time.time() - t:.2f} s"
    except subprocess.TimeoutExpired:
        walk = "still walking after 20 s"
    fifo = Path(state) / "pipe.json"
    os.mkfifo(fifo)
    try:
        r = subprocess.run([bin_, "validate", str(fifo)], capture_output=True, timeout=5)
        f = f"exit {r.returncode}"
    except subprocess.TimeoutExpired:
        f = "blocked (killed after 5 s)"

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    try:
        r = subprocess.run([bin_, "validate", "/dev/zero"], capture_output=True, timeout=20, preexec_fn=limit_memory)
        z = f"exit {r.returncode}"
    except subprocess.TimeoutExpired:
        z = "still reading after 20 s"
    print(f"PROBE folder with two `-> ..` symlinks: {walk}; a FIFO: {f}; /dev/zero (1 GiB memory cap): {z}")


def probe_placeholders(bin_, state):
    figures = []
    for n in (5000, 20000):
        text = "x".join("${$.a}" for _ in range(n))
        flow = {"name": "n", "startTask": "T", "tasks": {"T": {"type": "Terminate", "terminationStatus": "Completed",
                                                               "workflowOutput": {"s": text}}}}
        path = Path(state) / f"many-{n}.json"
        path.write_text(json.dumps(flow))
        t = time.time()
        subprocess.run([bin_, "validate", str(path)], capture_output=True, timeout=600)
        figures.append(time.time() - t)
    print(f"PROBE validate one string of 5,000 / 20,000 placeholders: {figures[0]:.2f} s / {figures[1]:.2f} s "
          f"(x{figures[1] / max(figures[0], 1e-3):.1f} for 4x the placeholders)")


def probe_secrets_and_numbers(bin_, state):
    p, url, key, solvimon = start_sandbox(bin_)
    with_password = url.replace("http://", "http://admin:PROBE_PASSWORD@")
    r = subprocess.run([bin_, "call", "rebilly.create-usage", "--body", "-", "--server", with_password],
                       input=json.dumps({"subscriptionId": "sub_unlimited", "quantity": 1}), capture_output=True, text=True,
                       env=dict(os.environ, REBILLY_API_KEY=key, RUST_LOG="debug", XDG_STATE_HOME=state))
    leaked = "PROBE_PASSWORD" in r.stderr + r.stdout
    dry = subprocess.run([bin_, "call", "rebilly.create-usage", "--dry-run", "--body", "-"],
                         input='{"subscriptionId": "s", "quantity": 12345678901234567.5}', capture_output=True, text=True,
                         env=dict(os.environ, REBILLY_API_KEY="k", XDG_STATE_HOME=state))
    sent = dry.stdout.splitlines()[-1] if dry.stdout else dry.stderr.strip()
    dup = subprocess.run([bin_, "call", "rebilly.create-usage", "--dry-run", "--body", "-"],
                         input='{"subscriptionId": "s", "quantity": 1, "quantity": 2}', capture_output=True, text=True,
                         env=dict(os.environ, REBILLY_API_KEY="k", XDG_STATE_HOME=state))
    cost = http("POST", f"{url}/v1/events/calculate?cost_prediction=true", "X-API-KEY", solvimon,
                {"reference": "probe-cost-1", "meter_reference": "api_calls",
                 "meter_values": [{"reference": "call_count", "number": "1" + "0" * 40}]})
    p.kill()
    print(f"PROBE password of a --server URL in debug logs: {'yes' if leaked else 'no'}; "
          f"dry run of quantity 12345678901234567.5 sends: {sent}; "
          f"call --body with a key twice: exit {dup.returncode}; "
          f"cost prediction of 1e40 calls: {cost[0]} {json.dumps((cost[1] or {}).get('cost_prediction'))}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    probes = [probe_pairs, probe_rerun, probe_unknown, probe_brick, probe_idle, probe_conditions, probe_files,
              probe_placeholders, probe_secrets_and_numbers]
    for probe in probes:
        if args.only and probe.__name__.removeprefix("probe_") not in args.only:
            continue
        with tempfile.TemporaryDirectory() as state:
            try:
                probe(str(Path(args.bin).resolve()), state)
            except Exception as e:
                print(f"PROBE {probe.__name__}: could not run ({type(e).__name__}: {e})")


if __name__ == "__main__":
    main()
