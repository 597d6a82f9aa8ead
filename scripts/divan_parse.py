"""Reads divan's tree output: shared by scripts/bench.sh and scripts/bench_compare.sh."""
import re

UNIT = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
TREE = re.compile(r"^(?P<indent>[│ ]*)[├╰]─ (?P<name>\S+)(?P<rest>.*)$")
TIME = re.compile(r"([\d.]+)\s*(ps|ns|µs|us|ms|s)\b")
RATE = re.compile(r"([\d.]+)\s*(K|M|G)?item/s")


def parse(path):
    """divan's tree output -> {path: {"median_ns": x, "ns_per_item": y}}."""
    out, stack, last = {}, [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            m = TREE.match(line)
            if m:
                depth = len(m.group("indent")) // 3
                stack = stack[:depth] + [m.group("name")]
                cols = [c.strip() for c in m.group("rest").split("│")]
                times = [TIME.search(c) for c in cols[:4]]
                if len(cols) >= 4 and all(times):
                    med = float(times[2].group(1)) * UNIT[times[2].group(2)]
                    last = "/".join(stack)
                    out[last] = {"median_ns": med}
                else:
                    last = None
                continue
            # A throughput line under the last timed entry.
            if last and "item/s" in line:
                rates = RATE.findall(line)  # fastest, slowest, median, mean
                if len(rates) >= 3:
                    value, prefix = rates[2]
                    scale = {"K": 1e3, "M": 1e6, "G": 1e9, "": 1.0}[prefix]
                    out[last]["ns_per_item"] = 1e9 / (float(value) * scale)
                last = None
    return out


def per_item(d, key):
    """ns per item where divan counted items, else the median."""
    e = d.get(key)
    if not e:
        return None
    return e.get("ns_per_item", e["median_ns"])
