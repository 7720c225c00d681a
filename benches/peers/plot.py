#!/usr/bin/env python3
"""Plots a benches/peers run as an SVG: requests/s and proxy CPU per request, per scenario,
keep-alive and close side by side. Standard library only.

    python3 benches/peers/plot.py target/peers/<run>/raw.csv docs/plots/peers.svg
"""
import csv
import statistics
import sys
from collections import defaultdict

COLORS = {"nginx": "#4e79a7", "haproxy": "#f28e2b", "lb": "#59a14f", "direct": "#9c9c9c"}


def family(scenario):
    for name in ("nginx", "haproxy", "lb"):
        if scenario.startswith(name):
            return name
    return "direct"


def main():
    raw, out = sys.argv[1], sys.argv[2]
    rows = [r for r in csv.DictReader(open(raw)) if r["status"] == "ok"]
    values = defaultdict(lambda: defaultdict(list))
    order = []
    for r in rows:
        key = r["scenario"]
        if key not in order:
            order.append(key)
        values[(r["mode"], key)]["rps"].append(float(r["rps"]))
        if r["proxy_us_per_req"]:
            values[(r["mode"], key)]["us"].append(float(r["proxy_us_per_req"]))
    modes = [m for m in ("keepalive", "close") if any((m, s) in values for s in order)]
    panels = [(m, metric) for metric in ("rps", "us") for m in modes]
    width, bar, gap, left, top, panel_h = 980, 16, 6, 170, 40, 22 * len(order) + 40
    height = top + len(panels) // len(modes) * (panel_h + 30) + 30
    col_w = (width - left - 40) // len(modes)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="15" font-weight="bold">lb vs nginx vs HAProxy ({raw.split("/")[-2]}): medians over rounds, proxy pinned to one core</text>']
    for pi, (mode, metric) in enumerate(panels):
        col, row = pi % len(modes), pi // len(modes)
        x0, y0 = left + col * col_w, top + row * (panel_h + 30)
        series = {s: statistics.median(values[(mode, s)][metric]) for s in order if values[(mode, s)][metric]}
        if not series:
            continue
        peak = max(series.values())
        title = {"rps": "requests/s", "us": "proxy CPU µs per request (lower is better)"}[metric]
        svg.append(f'<text x="{x0}" y="{y0 + 12}" font-weight="bold">{mode}: {title}</text>')
        for i, s in enumerate(order):
            if s not in series:
                continue
            y = y0 + 22 + i * (bar + gap)
            w = (col_w - 110) * series[s] / peak
            if col == 0:
                svg.append(f'<text x="{left - 8}" y="{y + 12}" text-anchor="end">{s}</text>')
            svg.append(f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{bar}" fill="{COLORS[family(s)]}"/>')
            label = f"{series[s]:,.0f}" if metric == "rps" else f"{series[s]:.1f}"
            svg.append(f'<text x="{x0 + w + 4:.1f}" y="{y + 12}">{label}</text>')
    svg.append("</svg>")
    open(out, "w").write("\n".join(svg))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
