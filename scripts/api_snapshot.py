#!/usr/bin/env python3
"""Public-API snapshot of the library crates, so that a change sees what it breaks.

    python3 scripts/api_snapshot.py            # compare with api/*.txt (exit 1 on a difference)
    python3 scripts/api_snapshot.py --bless    # rewrite api/*.txt

For each library crate (the binary crate iommu-inval-cli has no API), rustdoc's JSON output (stable rustdoc with
RUSTC_BOOTSTRAP=1, the toolchain CI has) is reduced to one line per public
item: its kind and path, with the signature of functions and methods
(inherent and trait-provided on the crate's own types), the fields of
structs and the variants of enums. The lines are sorted; `api/<crate>.txt`
holds the blessed list. A difference is printed as a unified diff.
The JSON is read from the target directory cargo reports (`cargo
metadata`), so CARGO_TARGET_DIR and a configured target-dir are honoured.
"""
import difflib
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = [
    "iommu-inval-core",
    "iommu-inval-arm",
    "iommu-inval-vtd",
    "iommu-inval-amd",
    "iommu-inval-riscv",
    "iommu-inval-virtio",
    "iommu-inval-iommufd",
    "iommu-inval",
]


def ty(t):
    """A compact rendering of a rustdoc JSON type."""
    if t is None:
        return "()"
    if not isinstance(t, dict):
        return str(t)
    (k, v), = t.items()
    if k == "primitive":
        return v
    if k == "generic":
        return v
    if k == "resolved_path":
        return v["path"] + args(v.get("args"))
    if k == "borrowed_ref":
        return "&" + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if k == "raw_pointer":
        return "*" + ("mut " if v["is_mutable"] else "const ") + ty(v["type"])
    if k == "slice":
        return "[" + ty(v) + "]"
    if k == "array":
        return "[" + ty(v["type"]) + "; " + str(v["len"]) + "]"
    if k == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if k == "impl_trait":
        return "impl " + " + ".join(bound(b) for b in v)
    if k == "dyn_trait":
        return "dyn " + " + ".join(p["trait"]["path"] + args(p["trait"].get("args")) for p in v["traits"])
    if k == "qualified_path":
        return "<" + ty(v["self_type"]) + ">::" + v["name"]
    if k == "function_pointer":
        return "fn(" + ", ".join(ty(i[1]) for i in v["sig"]["inputs"]) + ") -> " + ty(v["sig"]["output"])
    return k


def args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        parts = []
        for x in a["angle_bracketed"]["args"]:
            if "type" in x:
                parts.append(ty(x["type"]))
            elif "const" in x:
                parts.append(str(x["const"].get("expr", "_")))
            elif "lifetime" in x:
                parts.append(x["lifetime"])
        for c in a["angle_bracketed"].get("constraints", []):
            b = c.get("binding", {})
            if "equality" in b and "type" in b["equality"]:
                parts.append(c["name"] + " = " + ty(b["equality"]["type"]))
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in a:
        p = a["parenthesized"]
        return "(" + ", ".join(ty(x) for x in p["inputs"]) + ") -> " + ty(p.get("output"))
    return ""


def bound(b):
    if "trait_bound" in b:
        return b["trait_bound"]["trait"]["path"] + args(b["trait_bound"]["trait"].get("args"))
    if "outlives" in b:
        return b["outlives"]
    return "?"


def sig(fn):
    s = fn["sig"]
    ins = ", ".join(n if n == "self" else ty(t) for n, t in s["inputs"])
    out = s.get("output")
    return "(" + ins + ")" + ("" if out is None else " -> " + ty(out))


def target_dir():
    """The directory cargo builds into, as cargo itself resolves it
    (CARGO_TARGET_DIR, build.target-dir in a config file, or ./target)."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE,
    ).stdout
    return json.loads(out)["target_directory"]


def snapshot(crate, target):
    name = crate.replace("-", "_")
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    subprocess.run(
        ["cargo", "rustdoc", "-q", "-p", crate, "--lib", "--", "-Z", "unstable-options",
         "--output-format", "json", "--cap-lints", "allow"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    d = json.load(open(os.path.join(target, "doc", name + ".json"), encoding="utf-8"))
    idx, paths = d["index"], d["paths"]
    lines = set()
    for iid, p in paths.items():
        if p["crate_id"] != 0 or iid not in idx:
            continue
        item = idx[iid]
        path = "::".join(p["path"])
        kind = p["kind"]
        inner = item["inner"]
        if kind == "function":
            lines.add(f"fn {path}{sig(inner['function'])}")
            continue
        lines.add(f"{kind} {path}")
        body = inner.get(kind, {})
        if not isinstance(body, dict):
            # A macro's body is its source text: the name is the API.
            continue
        if kind == "struct":
            k = body.get("kind", {})
            fields = k.get("plain", {}).get("fields", []) if isinstance(k, dict) else []
            for f in fields:
                fi = idx.get(str(f))
                if fi and fi.get("visibility") == "public":
                    lines.add(f"field {path}.{fi['name']}: {ty(fi['inner']['struct_field'])}")
        if kind == "enum":
            for v in body.get("variants", []):
                vi = idx.get(str(v))
                if vi:
                    lines.add(f"variant {path}::{vi['name']}")
        if kind == "trait":
            for m in body.get("items", []):
                mi = idx.get(str(m))
                if mi and "function" in mi["inner"]:
                    lines.add(f"trait-fn {path}::{mi['name']}{sig(mi['inner']['function'])}")
                elif mi:
                    lines.add(f"trait-item {path}::{mi['name']}")
        for imp in body.get("impls", []):
            ii = idx.get(str(imp))
            if not ii:
                continue
            im = ii["inner"]["impl"]
            # Blanket impls (From<T>, Any, ...) and auto traits say nothing
            # about this crate's API.
            if im.get("blanket_impl") is not None or im.get("is_synthetic"):
                continue
            tr = im.get("trait")
            if tr is not None:
                lines.add(f"impl {tr['path']}{args(tr.get('args'))} for {path}")
                continue
            for m in im.get("items", []):
                mi = idx.get(str(m))
                if mi and mi.get("visibility") == "public" and "function" in mi["inner"]:
                    lines.add(f"method {path}::{mi['name']}{sig(mi['inner']['function'])}")
                elif mi and mi.get("visibility") == "public" and "constant" in mi["inner"]:
                    lines.add(f"const {path}::{mi['name']}")
    return sorted(lines)


def main():
    bless = "--bless" in sys.argv[1:]
    os.makedirs(os.path.join(ROOT, "api"), exist_ok=True)
    changed = False
    target = target_dir()
    for c in CRATES:
        now = snapshot(c, target)
        f = os.path.join(ROOT, "api", c + ".txt")
        if bless:
            with open(f, "w", encoding="utf-8") as out:
                out.write("\n".join(now) + "\n")
            print(f"api/{c}.txt: {len(now)} items")
            continue
        old = open(f, encoding="utf-8").read().splitlines() if os.path.exists(f) else []
        if old != now:
            changed = True
            sys.stdout.writelines(
                l + "\n" for l in difflib.unified_diff(old, now, f"api/{c}.txt", f"{c} now", lineterm="")
            )
    if changed:
        print("\nthe public API changed: if intended, run `python3 scripts/api_snapshot.py --bless` "
              "and commit api/", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
