"""Claims as data and the statistics that decide them (paper-agnostic; papers describe their metrics in claims.yaml).

    claims.py      the claims-file format: loader, JSON-schema validation, cross-checks (one-line errors)
    reports.py     eval reports (per-sample values of one run) and their alignment by sample id
    metrics.py     a table column derived from per-sample values (mean, percent below thresholds) or a run metric
    bootstrap.py   paired bootstrap over test samples and seeds; Welch over seed means
    compare.py     one metric, variant A vs variant B: our values, the difference, its confidence intervals
    verdict.py     reproduced / contradicted / inconclusive, per metric and per claim ("k of n" metrics)
    check.py       every claim of a claims file checked against the runs: the outcomes verify writes
"""
