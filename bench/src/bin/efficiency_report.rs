//! Prints the lowering-efficiency and batch tables of docs/PERFORMANCE.md
//! (markdown on stdout; one of them with `efficiency` or `batch`), or with
//! `host-calls` the host-call table. Run by scripts/bench.sh.

use iommu_inval_bench::efficiency::{self, Row};
use iommu_inval_bench::{batch_report, host_calls, targets};

fn main() {
    let only = std::env::args().nth(1).unwrap_or_default();
    if only == "host-calls" {
        println!("{}", host_calls::markdown(&host_calls::measure()));
        return;
    }
    if only != "batch" {
        efficiency_tables();
    }
    if only != "efficiency" {
        println!("### Batch lowering vs one-by-one (native commands, syncs included)\n");
        println!("{}", batch_report::markdown(&batch_report::measure()));
    }
}

fn efficiency_tables() {
    let mut rows: Vec<Row> = Vec::new();
    targets::for_each_efficiency_target(&mut |target, flavor, lib, linux, note| {
        rows.extend(efficiency::measure(target, flavor, lib, linux, note));
    });
    println!("### Commands and over-invalidation per range, library vs Linux\n");
    println!("{}", efficiency::markdown(&rows));
    let worse: Vec<&Row> = rows.iter().filter(|r| r.worse_than_linux()).collect();
    println!(
        "Rows where the library emits more commands or over-invalidates more than Linux: {}\n",
        worse.len()
    );
    for r in worse {
        println!(
            "* {} / {} / {}: library {} cmds, {} excess; Linux {} cmds, {} excess. {}",
            r.target,
            r.case,
            if r.granule == 12 { "4 KiB" } else { "2 MiB" },
            r.lib_cmds.map_or("error".into(), |n| n.to_string()),
            efficiency::human_bytes(r.lib_excess),
            r.linux_cmds,
            efficiency::human_bytes(r.linux_excess),
            r.note
        );
    }
    println!();
}
