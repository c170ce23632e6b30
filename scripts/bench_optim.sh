#!/usr/bin/env bash
# One optimizer step on CPU: exp (benches/optim_step.rs) beside torch.optim on
# the same ResNet-18 parameter shapes (62 tensors, 11.7 M f32 values, weight
# decay 1e-4 on weights, none on norm vectors), median of 20 steps after 3
# warm-up steps. torch runs each optimizer per-tensor (`foreach=False`, what
# timm's train.py gets on CPU) and, where one exists, fused (`fused=True`).
#
#   scripts/bench_optim.sh        (REPEATS=3: both sides alternate, medians)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
REPEATS="${REPEATS:-3}"
cargo bench --locked --bench optim_step --no-run 2>/dev/null
bin="$(ls -t target/release/deps/optim_step-* | grep -v '\.d$' | head -1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/torch_optim.py" <<'PY'
import sys, time, torch
torch.manual_seed(0)
def shapes():
    v = [(64, 3, 7, 7)] + [(64, 64, 3, 3)] * 4
    for c, prev in [(128, 64), (256, 128), (512, 256)]:
        v += [(c, prev, 3, 3), (c, c, 3, 3), (c, prev, 1, 1)] + [(c, c, 3, 3)] * 2
    v.append((1000, 512))
    for c in [64, 128, 256, 512]:
        v += [(c,)] * 10
    return v
def median_ms(make):
    ps = [torch.randn(s, requires_grad=True) for s in shapes()]
    for p in ps:
        p.grad = torch.randn_like(p)
    decay = [p for p in ps if p.dim() > 1]
    no_decay = [p for p in ps if p.dim() == 1]
    o = make([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}])
    ts = []
    for i in range(23):
        t = time.perf_counter(); o.step(); dt = time.perf_counter() - t
        if i >= 3:
            ts.append(dt * 1e3)
    ts.sort()
    return ts[len(ts) // 2]
O = torch.optim
runs = {
    "adamw": [("per_tensor", lambda g: O.AdamW(g, lr=0.01, foreach=False)),
              ("fused", lambda g: O.AdamW(g, lr=0.01, fused=True))],
    "sgd_momentum": [("per_tensor", lambda g: O.SGD(g, lr=0.01, momentum=0.9, foreach=False)),
                     ("fused", lambda g: O.SGD(g, lr=0.01, momentum=0.9, fused=True))],
    "rmsprop": [("per_tensor", lambda g: O.RMSprop(g, lr=0.01, alpha=0.9, eps=1e-3, momentum=0.9, foreach=False))],
}
for name, variants in runs.items():
    for v, make in variants:
        print(f"{name} {v} {median_ms(make):.3f}")
PY
: > "$work/exp.txt"; : > "$work/torch.txt"
for _ in $(seq "$REPEATS"); do
  "$bin" >> "$work/exp.txt"
  python "$work/torch_optim.py" >> "$work/torch.txt"
done
python - "$work/exp.txt" "$work/torch.txt" <<'PY'
import statistics, sys
exp, torch = {}, {}
for line in open(sys.argv[1]):
    n, ms = line.split(); exp.setdefault(n, []).append(float(ms))
for line in open(sys.argv[2]):
    n, v, ms = line.split(); torch.setdefault((n, v), []).append(float(ms))
print("| optimizer | exp ms | torch per-tensor ms | per-tensor / exp | torch fused ms | fused / exp |")
print("|---|---|---|---|---|---|")
for n, xs in exp.items():
    e = statistics.median(xs)
    pt = statistics.median(torch[(n, "per_tensor")])
    fu = torch.get((n, "fused"))
    fcols = f"{statistics.median(fu):.2f} | {statistics.median(fu) / e:.2f}" if fu else "— | —"
    print(f"| {n} | {e:.2f} | {pt:.2f} | {pt / e:.2f} | {fcols} |")
PY
