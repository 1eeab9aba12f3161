//! CPU of the MAM index per commit when commits are small and frequent (a
//! room's archive made searchable every few hundred milliseconds):
//! `cargo run --release -p xmpp_accel_core --example mam_commit_cost [COMMITS [MSGS_PER_COMMIT [WRITER_MB]]]`.
//!
//! Indexes MSGS_PER_COMMIT (1) messages of 100 bytes, commits, and again,
//! COMMITS (300) times, in a fresh index in a temporary directory. Prints the
//! process CPU (every thread: the caller's commits, tantivy's merges and
//! segment updates; from /proc/self/stat, 10 ms ticks) per commit, and the
//! wall time.

use std::time::Instant;

use xmpp_accel_core::mam::{MamIndex, Message, Options};

fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the command name, which ends with ')'
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks * 10.0
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let commits = args.first().copied().unwrap_or(300);
    let per = args.get(1).copied().unwrap_or(1);
    let writer_mb = args.get(2).copied().unwrap_or(50);
    let dir = std::env::temp_dir().join(format!("mam_commit_cost.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = Options {
        writer_memory: writer_mb as usize * 1_000_000,
        commit_interval_ms: 3_600_000,
        ..Options::default()
    };
    let mut index = MamIndex::open(&dir, options).expect("open");
    let body = "the quick brown fox jumps over the lazy dog near the river bank on a sunny afternoon in june";
    let (cpu0, t0) = (cpu_ms(), Instant::now());
    let mut id = 1u64 << 20;
    for _ in 0..commits {
        let batch: Vec<Message> = (0..per)
            .map(|_| {
                id += 256;
                Message {
                    archive_id: 7,
                    mam_id: id,
                    remote_jid: "room@muclight.example.com".into(),
                    remote_resource: "alice@example.com".into(),
                    is_groupchat: true,
                    body: body.into(),
                }
            })
            .collect();
        index.index(&batch).expect("index");
        index.commit().expect("commit");
    }
    // closing waits for the merges still running
    let _ = index.close();
    let (cpu, wall) = (cpu_ms() - cpu0, t0.elapsed().as_secs_f64() * 1000.0);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "commits={commits} msgs_per_commit={per} writer_mb={writer_mb}: cpu {:.3} ms/commit, wall {:.3} ms/commit",
        cpu / commits as f64,
        wall / commits as f64
    );
}
