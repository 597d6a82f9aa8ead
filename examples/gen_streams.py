#!/usr/bin/env python3
"""Writes the example command streams (*.cmds) and their raw queue dumps (*.bin).

Every word is computed here from the command tables (docs/SPEC.md),
independently of the Rust encoders: the CLI tests decode these streams, so
they double as known-answer vectors. Run from the repository root:

    python3 examples/gen_streams.py

The raw dumps hold the same commands as little-endian 64-bit words, as they
sit in guest memory: smmuv3-cmdq.bin (16 bytes per command), vtd-iq.bin
(128-bit descriptors, from vtd.cmds) and amd-cmdbuf.bin (16 bytes).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def b(v):
    return 1 if v else 0


# ---------------------------------------------------------------- SMMUv3
def smmu_tlbi(op, vmid=0, asid=0, num=0, scale=0, leaf=False, ttl=0, tg=0, addr=0):
    w0 = op | num << 12 | scale << 20 | vmid << 32 | asid << 48
    w1 = b(leaf) | ttl << 8 | tg << 10 | (addr & ~0xFFF & (2**64 - 1))
    return [w0, w1]


def smmu_sync(cs=0, msh=0, attr=0, data=0, addr=0):
    return [0x46 | cs << 12 | msh << 22 | attr << 24 | data << 32, addr & ~0x3]


def smmu_atc(sid, ssid=None, size=0, addr=0, glob=False):
    ssv = ssid is not None
    w0 = 0x40 | b(glob) << 9 | b(ssv) << 11 | (ssid or 0) << 12 | sid << 32
    return [w0, size | (addr & ~0xFFF)]


def smmu_cfgi_cd(sid, ssid, leaf=True, ssec=False):
    return [0x05 | b(ssec) << 10 | ssid << 12 | sid << 32, b(leaf)]


def smmu_cfgi_ste(sid, leaf=True):
    return [0x03 | sid << 32, b(leaf)]


def smmu_pri_resp(sid, ssid, prg, resp):
    return [0x41 | 1 << 11 | ssid << 12 | sid << 32, prg | resp << 12]


SMMU = [
    "# Guest driver stream for an Arm SMMUv3 command queue (16-byte commands).",
    "# Device 00:02.0 (StreamID 0x10) is in VMID 1; its PASID 1 uses ASID 5, PASID 2 uses ASID 6.",
    "",
    "# unmap 2 MiB at 0x40000000 from PASID 1 (ASID 5): one range TLBI",
    "# (TG=4K, SCALE=9, NUM=0: 512 pages, leaf only, TTL=3), then the ATC, then a polled sync",
    smmu_tlbi(0x12, vmid=1, asid=5, num=0, scale=9, leaf=True, ttl=3, tg=1, addr=0x40000000),
    smmu_sync(),
    smmu_atc(0x10, ssid=1, size=9, addr=0x40000000),
    smmu_sync(),
    "",
    "# unmap 3 pages at 0x40200000 the way a driver without range invalidation does:",
    "# one TLBI per page (TG=0), leaf only",
    smmu_tlbi(0x12, vmid=1, asid=5, leaf=True, addr=0x40200000),
    smmu_tlbi(0x12, vmid=1, asid=5, leaf=True, addr=0x40201000),
    smmu_tlbi(0x12, vmid=1, asid=5, leaf=True, addr=0x40202000),
    smmu_sync(),
    "",
    "# PASID 2 teardown: CD, sync, TLB (ASID 6), sync, ATC (all of PASID 2), sync",
    smmu_cfgi_cd(0x10, 2),
    smmu_sync(),
    smmu_tlbi(0x11, vmid=1, asid=6),
    smmu_sync(),
    smmu_atc(0x10, ssid=2, size=52, addr=0),
    smmu_sync(),
    "",
    "# stage-2 unmap of 64 KiB at IPA 0x80000000 in VMID 2 (TG=4K, SCALE=4, NUM=0: 16 pages),",
    "# then the device TLB of 01:00.0 (no PASID: every ATC entry of the range)",
    smmu_tlbi(0x2A, vmid=2, num=0, scale=4, leaf=True, ttl=3, tg=1, addr=0x80000000),
    smmu_sync(),
    smmu_atc(0x100, size=4, addr=0x80000000),
    smmu_sync(),
    "",
    "# answer a page request of PASID 1 (group 0x1a: success)",
    smmu_pri_resp(0x10, 1, 0x1A, 2),
    "",
    "# detach 00:03.0 (StreamID 0x18) from VMID 2: STE, sync, all of VMID 2, sync",
    smmu_cfgi_ste(0x18),
    smmu_sync(),
    [0x28 | 2 << 32, 0],
    "# completion with an MSI write of 0x1234 to 0x80001000 (inner shareable, write-back)",
    smmu_sync(cs=1, msh=3, attr=0xF, data=0x1234, addr=0x80001000),
]


# ---------------------------------------------------------------- VT-d
def vtd_iotlb(g, did=0, am=0, ih=False, addr=0, dw=False, dr=False):
    return [0x2 | g << 4 | b(dw) << 6 | b(dr) << 7 | did << 16, am | b(ih) << 6 | addr]


def vtd_wait(data, addr, iflag=False, sw=True, fn=False, pd=False):
    return [0x5 | b(iflag) << 4 | b(sw) << 5 | b(fn) << 6 | b(pd) << 7 | data << 32, addr]


def vtd_cc(g, did=0, sid=0, fm=0):
    return [0x1 | g << 4 | did << 16 | sid << 32 | fm << 48, 0]


def vtd_devtlb(sid, addr, s, pfsid=0, mip=0):
    w0 = 0x3 | (pfsid & 0xF) << 12 | mip << 16 | sid << 32 | (pfsid >> 4) << 52
    return [w0, b(s) | addr]


def vtd_iec(g, im=0, iidx=0):
    return [0x4 | b(g) << 4 | im << 27 | iidx << 32, 0]


def vtd_piotlb(g, did, pasid, am=0, ih=False, addr=0):
    return [0x6 | g << 4 | did << 16 | pasid << 32, am | b(ih) << 6 | addr]


def vtd_pc(g, did, pasid):
    return [0x7 | g << 4 | did << 16 | pasid << 32, 0]


def vtd_pdevtlb(sid, pasid, addr, s, g=False, pfsid=0, mip=0):
    w0 = 0x8 | mip << 4 | (pfsid & 0xF) << 12 | sid << 16 | pasid << 32 | (pfsid >> 4) << 52
    return [w0, b(g) | b(s) << 11 | addr]


def vtd_prg(rid, pasid, prg, code=0, lpig=True, priv=None):
    w0 = 0x9 | 1 << 4 | b(priv is not None) << 5 | code << 12 | rid << 16 | pasid << 32
    w1 = b(lpig) << 2 | prg << 3
    return [w0, w1] + (list(priv) if priv else [0, 0])


def w256(c):
    return c + [0, 0] if len(c) == 2 else c


STATUS = 0x7F000000  # where the driver polls for wait-descriptor completion

VTD = [
    "# Guest driver stream for an Intel VT-d invalidation queue, legacy mode, 128-bit descriptors.",
    "# Device 00:02.0 (source-id 0x10) is in domain DID 1; 00:03.0 (0x18) in DID 2.",
    "",
    "# unmap 2 MiB at 0x40000000 in DID 1: page-selective IOTLB (AM=9, IH=1 leaf only),",
    "# device TLB (S=1: lowest zero bit 20 -> 2 MiB), then a wait descriptor storing 1",
    vtd_iotlb(3, did=1, am=9, ih=True, addr=0x40000000, dw=True, dr=True),
    vtd_devtlb(0x10, 0x400FF000, True, pfsid=0x10, mip=0),
    vtd_wait(1, STATUS, fn=True),
    "",
    "# unmap 3 pages at 0x40200000: AM must be aligned, so a driver sends 2 pages + 1 page",
    vtd_iotlb(3, did=1, am=1, ih=True, addr=0x40200000, dw=True, dr=True),
    vtd_iotlb(3, did=1, am=0, ih=True, addr=0x40202000, dw=True, dr=True),
    vtd_wait(2, STATUS, fn=True),
    "",
    "# detach 00:03.0 from DID 2: context entry (device-selective), domain IOTLB, device TLB, wait",
    vtd_cc(3, did=2, sid=0x18),
    vtd_wait(3, STATUS),
    vtd_iotlb(2, did=2, dw=True, dr=True),
    vtd_devtlb(0x18, 0x7FFFFFFFFFFFF000, True),
    vtd_wait(4, STATUS),
    "",
    "# interrupt remapping: entries 32..39 (IM=3), then the whole cache; wait with interrupt",
    vtd_iec(True, im=3, iidx=32),
    vtd_iec(False),
    vtd_wait(0, 0, iflag=True, sw=False),
    "",
    "# global flush at boot: context cache, IOTLB, wait",
    vtd_cc(1),
    vtd_iotlb(1),
    vtd_wait(5, STATUS, fn=True),
]

VTD256 = [
    "# Guest driver stream for an Intel VT-d invalidation queue in scalable mode (256-bit descriptors).",
    "# Device 00:02.0 (0x10) in DID 1 uses PASIDs 1 and 2 for first-level (SVA) translation.",
    "",
    "# unmap 2 MiB at 0x40000000 from PASID 1: PASID-based IOTLB (AM=9, IH=1),",
    "# PASID-based device TLB (S=1, 2 MiB), wait",
    w256(vtd_piotlb(3, 1, 1, am=9, ih=True, addr=0x40000000)),
    w256(vtd_pdevtlb(0x10, 1, 0x400FF000, True, pfsid=0x10)),
    w256(vtd_wait(1, STATUS, fn=True)),
    "",
    "# PASID 2 teardown: PASID cache, wait, PASID IOTLB (all of PASID 2), device TLB (all), wait",
    w256(vtd_pc(1, 1, 2)),
    w256(vtd_wait(2, STATUS)),
    w256(vtd_piotlb(2, 1, 2)),
    w256(vtd_pdevtlb(0x10, 2, 0x7FFFFFFFFFFFF000, True, pfsid=0x10)),
    w256(vtd_wait(3, STATUS)),
    "",
    "# second-level unmap in DID 1 (the host's stage): one page at 0x80000000",
    w256(vtd_iotlb(3, did=1, am=0, ih=False, addr=0x80000000)),
    w256(vtd_wait(4, STATUS, fn=True)),
    "",
    "# answer a page request group 0x1a of PASID 1: success, with private data",
    vtd_prg(0x10, 1, 0x1A, priv=(0x1122334455667788, 0x99AABBCCDDEEFF00)),
]


# ---------------------------------------------------------------- AMD-Vi
def amd_wait(s=False, i=False, f=False, addr=0, data=0):
    return [b(s) | b(i) << 1 | b(f) << 2 | (addr & 0x000FFFFFFFFFFFF8) | 1 << 60, data]


def amd_pages(domain, addr, s=False, pde=False, gn=False, pasid=0):
    return [pasid | domain << 32 | 3 << 60, b(s) | b(pde) << 1 | b(gn) << 2 | addr]


def amd_iotlb(dev, addr, s=False, gn=False, pasid=0, maxpend=0, queue=0):
    w0 = dev | (pasid >> 8 & 0xFF) << 16 | maxpend << 24 | queue << 32 | (pasid & 0xFF) << 48 | 4 << 60
    return [w0, b(s) | b(gn) << 2 | addr]


def amd_dte(dev):
    return [dev | 2 << 60, 0]


def amd_irt(dev):
    return [dev | 5 << 60, 0]


def amd_ppr(dev, pasid, tag, status=0, gn=True):
    return [dev | pasid << 32 | 7 << 60, b(gn) << 2 | tag << 32 | status << 44]


ALL = 0x7FFFFFFFFFFFF000
SEM = 0x7F000000  # the driver's completion semaphore

AMD = [
    "# Guest driver stream for an AMD-Vi command buffer (16-byte commands).",
    "# Device 00:02.0 (DeviceID 0x10) is in DomainID 1 with PASIDs 1 and 2; 00:03.0 (0x18) in DomainID 2.",
    "",
    "# unmap 2 MiB at 0x40000000 from the host page table of domain 1 (GN=0):",
    "# S=1, lowest zero bit 20 -> 2 MiB, leaf only (PDE=0); device TLB; completion wait with store",
    amd_pages(1, 0x400FF000, s=True),
    amd_iotlb(0x10, 0x400FF000, s=True, maxpend=0x20),
    amd_wait(s=True, addr=SEM, data=1),
    "",
    "# unmap one page at 0x40200000, guest (PASID 1, GN=1) translations, with page directories",
    amd_pages(1, 0x40200000, pde=True, gn=True, pasid=1),
    amd_iotlb(0x10, 0x40200000, gn=True, pasid=1, maxpend=0x20),
    amd_wait(s=True, addr=SEM, data=2),
    "",
    "# PASID 2 teardown: DTE (GCR3 table changed), wait, all pages of PASID 2, device TLB, wait",
    amd_dte(0x10),
    amd_wait(s=True, addr=SEM, data=3),
    amd_pages(1, ALL, s=True, pde=True, gn=True, pasid=2),
    amd_iotlb(0x10, ALL, s=True, gn=True, pasid=2, maxpend=0x20),
    amd_wait(s=True, addr=SEM, data=4),
    "",
    "# answer a peripheral page request of PASID 1 (tag 0x1a: success)",
    amd_ppr(0x10, 1, 0x1A),
    "",
    "# detach 00:03.0 from domain 2: DTE, interrupt table, all of domain 2; wait with interrupt",
    amd_dte(0x18),
    amd_irt(0x18),
    amd_pages(2, ALL, s=True, pde=True),
    amd_wait(i=True, f=True),
    "",
    "# flush everything (driver init), completion wait with store",
    [8 << 60, 0],
    amd_wait(s=True, addr=SEM, data=5),
]


def write_stream(name, items, dump=None):
    cmds = []
    with open(os.path.join(HERE, name), "w") as f:
        for it in items:
            if isinstance(it, str):
                f.write(it + "\n")
            else:
                assert all(0 <= w < 2**64 for w in it), it
                f.write(",".join("0x%016x" % w for w in it) + "\n")
                cmds.append(it)
    if dump:
        with open(os.path.join(HERE, dump), "wb") as f:
            for c in cmds:
                f.write(struct.pack("<%dQ" % len(c), *c))


write_stream("smmuv3.cmds", SMMU, "smmuv3-cmdq.bin")
write_stream("vtd.cmds", VTD, "vtd-iq.bin")
write_stream("vtd256.cmds", VTD256)
write_stream("amd.cmds", AMD, "amd-cmdbuf.bin")
