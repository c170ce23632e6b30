#!/usr/bin/env python3
"""Write reference values for exp's statistics to tests/fixtures/stats/.

Independent implementations the Rust tests (tests/score_*.rs) compare with:
  mcnemar.json    statsmodels mcnemar(exact=True) p-values
  auc.json        scikit-learn roc_auc_score(multi_class="ovr", average="macro")
                  on quantised probabilities (many ties)
  bootstrap.json  numpy percentile bootstrap CIs (20,000 resamples) of top-1,
                  top-2, macro AUC, and of the paired difference of two cells
  delong.json     DeLong's test: the fast mid-rank algorithm (Sun & Xu 2014) for
                  two classes, and for several classes the label-stratified
                  placement variance computed here with explicit pair loops
  holm.json       statsmodels multipletests(method="holm")

Run: python3 -m venv /work/venvs/score && /work/venvs/score/bin/pip install numpy
scipy scikit-learn statsmodels; /work/venvs/score/bin/python scripts/make_stats_fixtures.py
"""
import json
import os

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "stats")
rng = np.random.default_rng(20261126)


def quantised_probs(n, c, levels=10, signal=2.0):
    """Rows of k/levels summing to 1 (so scikit-learn accepts them), with ties."""
    labels = rng.integers(0, c, n)
    probs = np.zeros((n, c))
    for i in range(n):
        alpha = np.ones(c)
        alpha[labels[i]] += signal
        probs[i] = rng.multinomial(levels, rng.dirichlet(alpha)) / levels
    return probs, labels


def correlated_cell(labels, c, base, flip, levels=10):
    """A second model: the first one's probabilities, re-drawn on a fraction of rows."""
    probs = base.copy()
    for i in range(len(labels)):
        if rng.random() < flip:
            alpha = np.ones(c)
            alpha[labels[i]] += 2.5
            probs[i] = rng.multinomial(levels, rng.dirichlet(alpha)) / levels
    return probs


def topk_hits(probs, labels, k):
    """Ties broken by lower class index, as exp does."""
    n, c = probs.shape
    hits = np.zeros(n, bool)
    for i in range(n):
        p = probs[i, labels[i]]
        rank = sum(1 for j in range(c) if probs[i, j] > p or (probs[i, j] == p and j < labels[i]))
        hits[i] = rank < k
    return hits


def macro_auc_weighted(probs, labels, w):
    """Mann-Whitney macro AUC with integer weights, by explicit pair counting
    over distinct scores (independent of exp's sweep)."""
    c = probs.shape[1]
    aucs = []
    for k in range(c):
        pos = labels == k
        s = probs[:, k]
        wp, wn = w * pos, w * (~pos)
        if wp.sum() == 0 or wn.sum() == 0:
            continue
        vals = np.unique(s)
        p_at = np.array([wp[s == v].sum() for v in vals])
        n_at = np.array([wn[s == v].sum() for v in vals])
        n_below = np.concatenate([[0], np.cumsum(n_at)[:-1]])
        aucs.append(((p_at * (n_below + 0.5 * n_at)).sum()) / (wp.sum() * wn.sum()))
    return float(np.mean(aucs))


def percentile(draws, conf):
    a = (1 - conf) / 2
    return [float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))]


def mcnemar_cases():
    cases = []
    for b, c in [(0, 0), (1, 9), (5, 5), (0, 7), (10, 30), (40, 61), (300, 328),
                 (3400, 3728), (2500, 2420), (123, 77)]:
        r = mcnemar(np.array([[100, b], [c, 100]]), exact=True)
        cases.append({"b": b, "c": c, "p": float(r.pvalue)})
    return cases


def auc_cases():
    cases = []
    for n, c, levels in [(200, 3, 10), (300, 5, 10), (150, 4, 4), (400, 2, 20)]:
        probs, labels = quantised_probs(n, c, levels)
        if c == 2:
            ref = roc_auc_score(labels, probs[:, 1])
        else:
            ref = roc_auc_score(labels, probs, multi_class="ovr", average="macro", labels=list(range(c)))
        cases.append({"classes": c, "labels": labels.tolist(), "probs": probs.ravel().round(6).tolist(),
                      "macro_auc": float(ref),
                      "top1": float(topk_hits(probs, labels, 1).mean())})
    return cases


def bootstrap_case():
    n, c, conf, B = 500, 4, 0.95, 20000
    a, labels = quantised_probs(n, c, 10, signal=1.5)
    b = correlated_cell(labels, c, a, 0.4)
    ha1, ha2 = topk_hits(a, labels, 1), topk_hits(a, labels, 2)
    hb1 = topk_hits(b, labels, 1)
    t1, t2, auc, d1, dauc = [], [], [], [], []
    for _ in range(B):
        w = np.bincount(rng.integers(0, n, n), minlength=n)
        t1.append((w * ha1).sum() / n)
        t2.append((w * ha2).sum() / n)
        aa = macro_auc_weighted(a, labels, w)
        auc.append(aa)
        d1.append((w * ha1).sum() / n - (w * hb1).sum() / n)
        dauc.append(aa - macro_auc_weighted(b, labels, w))
    return {
        "classes": c, "confidence": conf, "resamples": B, "labels": labels.tolist(),
        "probs_a": a.ravel().round(6).tolist(), "probs_b": b.ravel().round(6).tolist(),
        "top1": percentile(t1, conf), "top2": percentile(t2, conf), "auc": percentile(auc, conf),
        "delta_top1": percentile(d1, conf), "delta_auc": percentile(dauc, conf),
        "sd_top1": float(np.std(t1)), "sd_auc": float(np.std(auc)),
    }


def delong_fast_binary(y, sa, sb):
    """Sun & Xu (2014) fast DeLong for two correlated binary AUCs."""
    pos, neg = y == 1, y == 0
    m, n = pos.sum(), neg.sum()
    v10, v01, aucs = [], [], []
    for s in (sa, sb):
        tx = stats.rankdata(s[pos])
        ty = stats.rankdata(s[neg])
        tz = stats.rankdata(np.concatenate([s[pos], s[neg]]))
        auc = tz[:m].sum() / (m * n) - (m + 1) / (2 * n)
        aucs.append(auc)
        v10.append((tz[:m] - tx) / n)
        v01.append(1 - (tz[m:] - ty) / m)
    s10 = np.cov(np.array(v10))
    s01 = np.cov(np.array(v01))
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    d = aucs[0] - aucs[1]
    se = float(np.sqrt(var))
    return d, se, float(2 * stats.norm.sf(abs(d) / se))


def delong_stratified(labels, a, b):
    """Macro-AUC difference; variance = sum over label strata of
    n_g/(n_g-1) * sum (phi_i - mean_g)^2, phi_i = the image's placement
    influence averaged over classes. Pairs counted explicitly."""
    n, c = a.shape
    phi = np.zeros(n)
    d = 0.0
    for sign, p in ((1, a), (-1, b)):
        aucs = []
        infl = np.zeros(n)
        for k in range(c):
            pos = np.where(labels == k)[0]
            neg = np.where(labels != k)[0]
            sp, sn = p[pos, k], p[neg, k]
            cmp = (sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])
            auc = cmp.mean()
            aucs.append(auc)
            infl[pos] += (cmp.mean(axis=1) - auc) / len(pos)
            infl[neg] += (cmp.mean(axis=0) - auc) / len(neg)
        phi += sign * infl / c
        d += sign * np.mean(aucs)
    var = 0.0
    for k in range(c):
        g = phi[labels == k]
        var += len(g) / (len(g) - 1) * ((g - g.mean()) ** 2).sum()
    se = float(np.sqrt(var))
    return d, se, float(2 * stats.norm.sf(abs(d) / se))


def delong_cases():
    cases = []
    # Two classes: exp's macro OvR AUC equals the binary AUC, so DeLong applies as published.
    n = 400
    labels = rng.integers(0, 2, n)
    s1 = np.clip(np.round(0.5 + 0.25 * (labels - 0.5) + rng.normal(0, 0.2, n), 2), 0, 1)
    s2 = np.clip(np.round(s1 + rng.normal(0, 0.12, n) + 0.03 * labels, 2), 0, 1)
    pa = np.stack([1 - s1, s1], 1)
    pb = np.stack([1 - s2, s2], 1)
    d, se, p = delong_fast_binary(labels, s1, s2)
    cases.append({"method": "delong_sun_xu", "classes": 2, "labels": labels.tolist(),
                  "probs_a": pa.ravel().round(6).tolist(), "probs_b": pb.ravel().round(6).tolist(),
                  "delta": d, "se": se, "p": p})
    for n, c in [(300, 4), (250, 6)]:
        a, labels = quantised_probs(n, c, 10, signal=1.5)
        b = correlated_cell(labels, c, a, 0.5)
        d, se, p = delong_stratified(labels, a, b)
        cases.append({"method": "stratified_placements", "classes": c, "labels": labels.tolist(),
                      "probs_a": a.ravel().round(6).tolist(), "probs_b": b.ravel().round(6).tolist(),
                      "delta": d, "se": se, "p": p})
    return cases


def holm_cases():
    cases = []
    for m in (1, 3, 6, 12):
        p = rng.uniform(0, 0.1, m) ** 1.5
        p[0] = 0.5 if m > 1 else p[0]
        rej, adj, _, _ = multipletests(p, alpha=0.05, method="holm")
        cases.append({"p": p.tolist(), "adjusted": adj.tolist(), "reject_05": rej.tolist()})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("mcnemar", mcnemar_cases()), ("auc", auc_cases()), ("holm", holm_cases()),
                       ("delong", delong_cases()), ("bootstrap", bootstrap_case())]:
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
