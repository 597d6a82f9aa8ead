//! The four queue consumers over arbitrary guest memory and register
//! values (including structs built directly from their public fields).
//! Never a panic; every command handed out re-reads from guest memory as
//! the same words (R1 through the queue); the count never exceeds what the
//! producer published.
#![no_main]
use arbitrary::{Result, Unstructured};
use iommu_inval::core::{GuestMemory, NativeCommand, SliceMemory};
use iommu_inval::{amd, arm, riscv, vtd};
use libfuzzer_sys::fuzz_target;

/// The words at `addr`, as the consumer must have read them.
fn words_at(mem: &SliceMemory<'_>, addr: u64, n: usize) -> Vec<u64> {
    let mut w = vec![0u64; n];
    let r = mem.read_words(addr, &mut w);
    assert!(
        r.is_ok(),
        "a handed-out command at {addr:#x} is not in guest memory: {r:?}"
    );
    w
}

fn check<C: NativeCommand>(mem: &SliceMemory<'_>, addr: u64, c: &C) {
    let mut enc = [0u64; 4];
    let n = c.encode_into(&mut enc).unwrap_or(0);
    let want = words_at(mem, addr, n);
    assert_eq!(
        enc.get(..n),
        Some(want.as_slice()),
        "command at {addr:#x} ({}) does not re-encode to memory",
        c.op()
    );
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let u = &mut u;
    let arch = u.int_in_range(0u8..=3)?;
    let qbase: u64 = if u.ratio(1, 4)? {
        u.arbitrary()?
    } else {
        u64::from(u.int_in_range(0u32..=0x2000)?) & !0xfff
    };
    let mem_base = if u.ratio(3, 4)? {
        qbase
    } else {
        u.arbitrary()?
    };
    let (h, t): (u64, u64) = (u.arbitrary()?, u.arbitrary()?);
    let size_param: u8 = u.arbitrary()?;
    let direct = u.ratio(1, 3)?;
    let flag: bool = u.arbitrary()?;
    let n = u.len();
    let bytes = u.bytes(n)?;
    let mem = SliceMemory {
        base: mem_base,
        bytes,
    };
    match arch {
        0 => {
            let q = if direct {
                arm::queue::Cmdq {
                    base: qbase,
                    log2size: size_param,
                }
            } else {
                arm::queue::Cmdq::new(qbase, size_param % 24)
            };
            let (prod, cons) = (h as u32, t as u32);
            let pending = q.pending(prod, cons);
            let res = q.consume(&mem, prod, cons, |rd, c| check(&mem, q.entry_addr(rd), c));
            assert!(res.count <= pending, "consumed {} of {pending}", res.count);
        }
        1 => {
            let iqa = if direct {
                vtd::queue::Iqa {
                    base: qbase,
                    dw: flag,
                    qs: size_param,
                }
            } else {
                vtd::queue::Iqa::from_reg(
                    qbase | u64::from(size_param & 7) | if flag { vtd::queue::IQA_DW } else { 0 },
                )
            };
            let mut n = 0u64;
            let _ = vtd::queue::walk(&mem, iqa, h, t, |off, c| {
                n += 1;
                check(&mem, iqa.base.wrapping_add(off), c);
            });
            assert!(
                n <= iqa.entries(),
                "walked {n} descriptors of a {}-entry queue",
                iqa.entries()
            );
        }
        3 => {
            let q = riscv::queue::CmdQueue::from_registers(
                qbase >> 2 & riscv::queue::CQB_PPN_MASK | u64::from(size_param % 24),
                h as u32,
                t as u32,
                if flag { riscv::queue::CQCSR_CQEN } else { 0 },
            );
            if let Some(mut q) = q {
                let pending = q.pending();
                let mut n = 0u32;
                let _ = q.process(&mem, |addr, c| {
                    n += 1;
                    check(&mem, addr, c)
                });
                assert!(n <= pending, "consumed {n} of {pending}");
            }
        }
        _ => {
            let cb = if direct {
                amd::queue::CmdBuf::new(qbase, size_param, h, t)
            } else {
                amd::queue::CmdBuf::from_registers(
                    qbase | (u64::from(size_param & 0xf) << 56),
                    h,
                    t,
                )
            };
            if let Ok(mut cb) = cb {
                let _ = cb.process(&mem, |addr, c| check(&mem, addr, c));
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
