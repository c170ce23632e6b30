"""`exp check` and `exp lsp` start-up beside ruff and taplo, in the same run.

Usage: scripts/bench_check.sh (builds the front, installs the peers). Each
tool checks a file of about the same size as pipelines/quickstart.exp
(54 lines, 1.5 KB); every command runs RUNS times, interleaved, and the
median wall time and the largest peak RSS (GNU time) are printed
with the ratio exp / peer. `exp lsp` is measured idle: initialize, open
quickstart.exp, wait one second, read VmRSS and VmHWM from /proc.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(os.environ.get("RUNS", "30"))


def run_once(argv):
    """Wall time of one run, and its peak RSS in KiB measured by GNU time in
    a second run. Why not wait4's rusage: a child forked from this Python
    process counts the parent's pages in its peak before it execs."""
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{argv} failed with {p.returncode}")
    with tempfile.NamedTemporaryFile("r") as f:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name] + argv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        kib = int(f.read().split()[-1])
    return dt, kib


def python_file(path):
    lines = ['"""A small module of about the size of quickstart.exp."""', "", "import math", "", ""]
    i = 0
    while sum(len(l) + 1 for l in lines) < 1485:
        lines += [f"def f{i}(x, y=2):", f"    return math.sqrt(x * x + y * y) + {i}", "", ""]
        i += 1
    open(path, "w").write("\n".join(lines) + "\n")


def toml_file(path):
    lines = ["[package]", 'name = "demo"', 'version = "0.1.0"', "", "[dependencies]"]
    i = 0
    while sum(len(l) + 1 for l in lines) < 1485:
        lines.append(f'crate{i} = {{ version = "1.{i}", features = ["a", "b"] }}')
        i += 1
    open(path, "w").write("\n".join(lines) + "\n")


def lsp_idle(exp, pipeline):
    p = subprocess.Popen([exp, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def send(msg):
        body = json.dumps(msg).encode()
        p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        p.stdin.flush()

    uri = "file://" + os.path.abspath(pipeline)
    send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
          "params": {"processId": None, "rootUri": None, "capabilities": {}}})
    send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "exp", "version": 1, "text": open(pipeline).read()}}})
    time.sleep(1.0)
    status = open(f"/proc/{p.pid}/status").read()
    kib = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines()
           if l.startswith(("VmRSS", "VmHWM"))}
    send({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
    send({"jsonrpc": "2.0", "method": "exit"})
    p.communicate(timeout=10)
    return kib["VmRSS"], kib["VmHWM"]


def main():
    exp, ruff, taplo = sys.argv[1:4]
    pipeline = "pipelines/quickstart.exp"
    tmp = tempfile.mkdtemp()
    py, toml = os.path.join(tmp, "demo.py"), os.path.join(tmp, "demo.toml")
    python_file(py)
    toml_file(toml)
    tools = {
        "exp check quickstart.exp": [exp, "check", pipeline],
        "ruff check (1.5 KB .py)": [ruff, "check", "--no-cache", "--isolated", py],
        "taplo check (1.5 KB .toml)": [taplo, "check", toml],
    }
    times = {k: [] for k in tools}
    rss = {k: 0 for k in tools}
    for _ in range(RUNS):
        for k, argv in tools.items():
            dt, kib = run_once(argv)
            times[k].append(dt)
            rss[k] = max(rss[k], kib)
    base_t = statistics.median(times["exp check quickstart.exp"])
    base_m = rss["exp check quickstart.exp"]
    print(f"| command | median ms | peak RSS MB | exp / it (time) | exp / it (memory) |")
    print("|---|---|---|---|---|")
    for k in tools:
        t = statistics.median(times[k])
        print(f"| {k} | {t * 1e3:.1f} | {rss[k] / 1024:.1f} | {base_t / t:.2f} | {base_m / rss[k]:.2f} |")
    now, peak = lsp_idle(exp, pipeline)
    print(f"\nexp lsp idle after opening quickstart.exp: {now / 1024:.1f} MB resident "
          f"(peak {peak / 1024:.1f} MB)")


if __name__ == "__main__":
    main()
