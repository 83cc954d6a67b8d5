#!/usr/bin/env python3
"""Summarises a `perf record -g` file of the server as one JSON line for BENCHMARKS.md's "where
the time goes" lines: the sample count, each binary's share of the samples (self time, so the
shares add up to 100%) and the top symbols, so a target that is not met carries a profile of the
run that missed it, not a guess.

Usage: perf_summary.py PERF.data NAME  ->  {"run":"profile","name":NAME,"samples":N,
       "dso":[[name, percent]...],"symbols":[[dso, symbol, percent]...]}
Prints {"run":"profile","name":NAME,"error":...} when perf cannot read the file."""
import json
import re
import subprocess
import sys


def report(path, sort):
    return subprocess.run(
        ["perf", "report", "-i", path, "--no-children", "--sort", sort, "--stdio",
         "--percent-limit", "0.5", "-g", "none"],
        capture_output=True, text=True, timeout=300).stdout


def main():
    path, name = sys.argv[1], sys.argv[2]
    try:
        by_dso = report(path, "dso")
        by_symbol = report(path, "dso,symbol")
    except (OSError, subprocess.SubprocessError) as e:
        print(json.dumps({"run": "profile", "name": name, "error": str(e)}))
        return
    samples = 0
    m = re.search(r"# Samples: (\d+)([KM]?)", by_dso)
    if m:
        samples = int(m.group(1)) * {"": 1, "K": 1000, "M": 1000000}[m.group(2)]
    dsos = []
    for line in by_dso.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S.*?)\s*$", line)
        if m:
            dsos.append([m.group(2).strip("[]"), float(m.group(1))])
    symbols = []
    for line in by_symbol.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*?)\s*$", line)
        if m and len(symbols) < 12:
            symbol = re.split(r"\s{2,}", m.group(3))[0]
            symbols.append([m.group(2).strip("[]"), symbol[:90], float(m.group(1))])
    if not dsos:
        print(json.dumps({"run": "profile", "name": name, "error": "perf report gave no samples"}))
        return
    print(json.dumps({"run": "profile", "name": name, "samples": samples, "dso": dsos,
                      "symbols": symbols}, separators=(",", ":")))


if __name__ == "__main__":
    main()
