#!/usr/bin/env python3
"""Write a large SMMUv3 command-queue dump for the CLI scale measurements.

    python3 scripts/gen_dump.py OUT [MIB]      (default 64 MiB: 4 Mi commands)

The dump repeats the commands of examples/smmuv3-cmdq.bin (the example
stream as it sits in guest memory, 16 little-endian bytes per command)
until the file holds MIB MiB. Deterministic, no dependencies.
"""
import os
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = sys.argv[1]
    mib = int(sys.argv[2]) if len(sys.argv) == 3 else 64
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "examples", "smmuv3-cmdq.bin"), "rb") as f:
        unit = f.read()
    if not unit or len(unit) % 16:
        sys.exit("examples/smmuv3-cmdq.bin is not a whole number of commands")
    total = mib << 20
    block = unit * max(1, (1 << 20) // len(unit))
    with open(out, "wb") as f:
        written = 0
        while written < total:
            chunk = block[: total - written]
            f.write(chunk)
            written += len(chunk)


if __name__ == "__main__":
    main()
