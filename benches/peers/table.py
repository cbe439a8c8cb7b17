#!/usr/bin/env python3
"""Prints the peer benchmark's results (JSON lines written by scripts/bench-peers) as a table.

usage: table.py RESULTS.jsonl [--markdown]

One row per run: workload, delay, tool, settings, objects, objects/s, MiB/s, wall s, client CPU s
per 1,000 objects, bed CPU s (client + proxy + server), peak RSS, load average at the start, and
the ratio of the tool's objects/s (bytes/s for the large object) to s3ferry's (defaults) in the same
workload and delay; rows that did not run say why.
"""
import json
import sys

WORKLOADS = {
    "w1": "1 small copy",
    "w2": "2 large copy",
    "w3": "3 sync 10% changed",
    "w4": "4 list/plan",
}


def rate(r):
    if r.get("status") not in ("ok", "wrong") or not r.get("wall"):
        return None
    if r["workload"] == "w2":
        return r["bytes"] / r["wall"]
    return r["objects"] / r["wall"]


def main():
    path = sys.argv[1]
    markdown = "--markdown" in sys.argv
    rows = [json.loads(line) for line in open(path) if line.strip()]
    ref = {}
    for r in rows:
        if r["tool"] == "s3ferry" and r.get("reference") and rate(r):
            ref.setdefault((r["workload"], r["delay_ms"]), []).append(rate(r))
    head = ["workload", "delay", "tool", "settings", "objects", "obj/s", "MiB/s", "wall s", "CPU s/1k obj",
            "bed CPU s", "peak RSS MiB", "load1", "vs s3ferry", "note"]
    out = []
    for r in rows:
        ok = r.get("status") in ("ok", "wrong")
        wall = r.get("wall") or 0
        objs = r.get("objects") or 0
        cpu = (r.get("user") or 0) + (r.get("sys") or 0)
        bed = cpu + (r.get("server_cpu") or 0) + (r.get("proxy_cpu") or 0)
        refs = ref.get((r["workload"], r["delay_ms"]))
        ratio = ""
        if r.get("status") == "ok" and refs and rate(r):
            ratio = "%.2fx" % (rate(r) / (sum(refs) / len(refs)))
        out.append([
            WORKLOADS.get(r["workload"], r["workload"]),
            "%d ms" % r["delay_ms"],
            r["tool"],
            r["settings"],
            str(objs) if ok else "-",
            "%.0f" % (objs / wall) if ok and wall else "-",
            "%.1f" % (r["bytes"] / wall / 1048576) if ok and wall else "-",
            "%.2f" % wall if ok else "-",
            "%.2f" % (cpu / objs * 1000) if ok and objs and r["workload"] != "w2" else "-",
            "%.1f" % bed if ok else "-",
            "%.0f" % ((r.get("rss_kib") or 0) / 1024) if ok else "-",
            "%.2f" % r.get("load1", 0),
            ratio,
            r.get("note", "") if r.get("status") == "ok" else (r.get("status", "") + ": " + r.get("note", "")).strip(": "),
        ])
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for o in out:
            print("| " + " | ".join(c.replace("|", "/") for c in o) + " |")
        return
    widths = [max(len(h), *(len(o[i]) for o in out)) if out else len(h) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for o in out:
        print("  ".join(c.ljust(w) for c, w in zip(o, widths)))


if __name__ == "__main__":
    main()
