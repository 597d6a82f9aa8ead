//! virtio-iommu requests shared by the `virtio` bench and the allocation
//! check (`tests/no_alloc.rs`).

use iommu_inval_virtio::{Command, Map, Unmap, MAP_F_READ, MAP_F_WRITE};

/// MAP and UNMAP of 4 KiB page `k` of domain 1 (IOVA `0x10_0000` + `k`
/// pages, to `0x4000_0000` + `k` pages, read-write), as Linux's driver
/// sends them for one page.
pub fn page_map_unmap(k: u64) -> (Command, Command) {
    let s = 0x10_0000 + k * 0x1000;
    let map = Map {
        domain: 1,
        virt_start: s,
        virt_end: s + 0xfff,
        phys_start: 0x4000_0000 + k * 0x1000,
        flags: MAP_F_READ | MAP_F_WRITE,
        ..Map::default()
    };
    let unmap = Unmap {
        domain: 1,
        virt_start: s,
        virt_end: s + 0xfff,
        ..Unmap::default()
    };
    (Command::from(map), Command::from(unmap))
}
