#!/usr/bin/env python3
"""The CLI at the size of a real dump, against `od` on the same file.

    python3 scripts/cli_scale.py [BINARY]     (default target/release/iommu-inval)

Generates (scripts/gen_dump.py) a 64 MiB SMMUv3 command-queue dump (4 Mi
commands) and a 16 MiB one (1 Mi commands) in a temporary directory, then
times, in the same run, with output to /dev/null:

* `od -An -tx8 -v` of the 64 MiB dump (the least a tool that prints the
  words must do) against `decode --raw` (human form) and `decode --json
  --raw` of it;
* `od` of the 16 MiB dump against `convert --explain --from smmuv3 --to
  vtd --raw` of it with the example topology.

Each command runs 3 times; the table gives the median wall time, the ratio
to `od` and the peak RSS (VmHWM, sampled). Prints a markdown table.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hwm_kib(pid):
    """VmHWM (peak resident set of the process's own memory map) in KiB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(argv):
    """Median wall seconds and peak RSS (KiB) of 3 runs.

    The peak is VmHWM sampled every 10 ms while the command runs (wait4's
    ru_maxrss would include the forking Python process's memory)."""
    times, rss = [], 0
    for _ in range(3):
        with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as err:
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdout=null, stderr=err)
            while p.poll() is None:
                rss = max(rss, hwm_kib(p.pid))
                time.sleep(0.01)
            times.append(time.monotonic() - t0)
            if p.returncode != 0:
                err.seek(0)
                sys.exit(f"{' '.join(argv)}: exit {p.returncode}: {err.read().decode(errors='replace').strip()}")
    return statistics.median(times), rss


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "iommu-inval")
    topo = os.path.join(ROOT, "examples", "topology.json")
    with tempfile.TemporaryDirectory() as d:
        big, mid = os.path.join(d, "cmdq64.bin"), os.path.join(d, "cmdq16.bin")
        for path, mib in ((big, 64), (mid, 16)):
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen_dump.py"), path, str(mib)], check=True)
        od64, od_rss = run(["od", "-An", "-tx8", "-v", big])
        od16, _ = run(["od", "-An", "-tx8", "-v", mid])
        rows = [
            ("`od -An -tx8 -v` (64 MiB)", od64, od_rss, None, None),
        ]
        for label, argv, base, goal in [
            ("`decode --raw` (64 MiB, 4 Mi commands)", [binary, "decode", "--arch", "smmuv3", "--raw", big], od64, 3.0),
            ("`decode --json --raw` (64 MiB)", [binary, "decode", "--arch", "smmuv3", "--json", "--raw", big], od64, 5.0),
            ("`od -An -tx8 -v` (16 MiB)", ["od", "-An", "-tx8", "-v", mid], None, None),
            ("`convert --explain --to vtd --raw` (16 MiB, 1 Mi commands)",
             [binary, "convert", "--from", "smmuv3", "--to", "vtd", "--explain", "--topology", topo, "--raw", mid], od16, None),
        ]:
            t, rss = run(argv)
            rows.append((label, t, rss, None if base is None else t / base, goal))
    print("| command | wall time (median of 3) | ratio to `od` of the same file | goal | peak RSS |")
    print("|---|---|---|---|---|")
    for label, t, rss, ratio, goal in rows:
        r = "–" if ratio is None else f"{ratio:.1f}x"
        g = "–" if goal is None else (f"≤ {goal:.0f}x, met" if ratio <= goal else f"≤ {goal:.0f}x, **missed**")
        print(f"| {label} | {t:.2f} s | {r} | {g} | {rss / 1024:.1f} MiB |")


if __name__ == "__main__":
    main()
