//! bench-mam: MAM full-text search (XEP-0313 archive search), ours
//! (`xmpp_accel_core::mam`, on tantivy) against SQLite FTS5 in two layouts
//! and a SQLite LIKE scan (what MongooseIM's RDBMS MAM does today), on the
//! same generated archives and the same queries. See bench/README.md,
//! section "make bench-mam".
//!
//! Environment: BENCH_QUICK=1 (smoke run), BENCH_MESSAGES, BENCH_ARCHIVES,
//! BENCH_QUERIES, BENCH_BUDGET_S, BENCH_SEED, BENCH_KEEP=1, TMPDIR,
//! BENCH_INDEX_ONLY=N (only index dataset A into ours, N times).
//! The last line of stdout is the `summary:` line.

mod data;
mod engines;

use data::{BQuery, Bands, Dataset, Pick, QType, Rng, Vocab, ALL_TYPES};
use engines::{Answer, Engine, Layout, Ours, Sqlite};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use xmpp_accel_core::mam::Message;

const ENGINES: [&str; 4] = ["ours", "fts5a", "fts5b", "like"];
/// Messages per index() call / per transaction while loading.
const BATCH: usize = 1_000;
/// Fewest timed queries per engine and type, whatever the time budget.
const MIN_QUERIES: usize = 10;

struct Config {
    quick: bool,
    messages: usize,
    archives: usize,
    queries: usize,
    budget_s: f64,
    seed: u64,
    keep: bool,
    probes: usize,
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Config {
    fn from_env() -> Config {
        let quick = std::env::var("BENCH_QUICK")
            .map(|v| v == "1")
            .unwrap_or(false);
        Config {
            quick,
            messages: env_num("BENCH_MESSAGES").unwrap_or(if quick { 100_000 } else { 1_000_000 }),
            archives: env_num("BENCH_ARCHIVES").unwrap_or(if quick { 1_000 } else { 10_000 }),
            queries: env_num("BENCH_QUERIES").unwrap_or(if quick { 40 } else { 200 }),
            budget_s: env_num("BENCH_BUDGET_S").unwrap_or(if quick { 1.0 } else { 4.0 }),
            seed: env_num("BENCH_SEED").unwrap_or(20_250_313),
            keep: std::env::var("BENCH_KEEP")
                .map(|v| v == "1")
                .unwrap_or(false),
            probes: if quick { 6 } else { 20 },
        }
    }
}

/// The work dir; removed when dropped (also on panic), unless kept.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("bench-mam: work dir {} (kept)", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // nearest rank
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s
}

fn fmt_ms(t: f64) -> String {
    if t.is_nan() {
        "NA".into()
    } else if t < 1.0 {
        format!("{t:.3}")
    } else if t < 100.0 {
        format!("{t:.2}")
    } else {
        format!("{t:.0}")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}")
    } else {
        "NA".into()
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

#[derive(Default)]
struct Cell {
    lat_ms: Vec<f64>,
    answers: Vec<Answer>,
    error: Option<String>,
}

struct TypeResult {
    t: QType,
    queries: Vec<BQuery>,
    cells: HashMap<&'static str, Cell>,
}

impl TypeResult {
    fn p(&self, engine: &str, p: f64) -> f64 {
        match self.cells.get(engine) {
            Some(c) if c.error.is_none() => pct(&sorted(&c.lat_ms), p),
            _ => f64::NAN,
        }
    }
    /// Share of the queries run by both where `engine` returned the same
    /// page (and count) as ours, and how many were compared.
    fn agreement(&self, engine: &str) -> (f64, usize) {
        let (Some(o), Some(e)) = (self.cells.get("ours"), self.cells.get(engine)) else {
            return (f64::NAN, 0);
        };
        let n = o.answers.len().min(e.answers.len());
        if n == 0 {
            return (f64::NAN, 0);
        }
        let same = (0..n).filter(|&i| o.answers[i] == e.answers[i]).count();
        (same as f64 / n as f64, n)
    }
}

/// Runs the queries of one type on every engine, interleaved query by query
/// (the engine that goes first rotates), so that noise from the machine hits
/// all engines alike. An engine stops once it has spent `budget_s` on timed
/// queries of this type and has run at least MIN_QUERIES.
fn run_type(
    engines: &mut [Box<dyn Engine>],
    t: QType,
    queries: Vec<BQuery>,
    budget_s: f64,
) -> TypeResult {
    let mut cells: HashMap<&'static str, Cell> = HashMap::new();
    let mut spent = vec![0.0f64; engines.len()];
    let mut active = vec![true; engines.len()];
    // untimed warm-up: the first query once on each engine
    for (k, e) in engines.iter_mut().enumerate() {
        let cell = cells.entry(e.name()).or_default();
        if let Err(err) = e.query(&queries[0]) {
            cell.error = Some(err);
            active[k] = false;
        }
    }
    for (i, q) in queries.iter().enumerate() {
        for j in 0..engines.len() {
            let k = (i + j) % engines.len();
            if !active[k] {
                continue;
            }
            let e = &mut engines[k];
            let t0 = Instant::now();
            let r = e.query(q);
            let dt = t0.elapsed().as_secs_f64();
            let cell = cells.get_mut(e.name()).unwrap();
            match r {
                Ok(a) => {
                    cell.lat_ms.push(dt * 1e3);
                    cell.answers.push(a);
                }
                Err(err) => {
                    cell.error = Some(err);
                    active[k] = false;
                    continue;
                }
            }
            spent[k] += dt;
            if spent[k] > budget_s && cell.lat_ms.len() >= MIN_QUERIES {
                active[k] = false;
            }
        }
    }
    TypeResult { t, queries, cells }
}

fn print_set(title: &str, results: &[TypeResult]) {
    println!();
    println!("### {title}: latency per query, ms (p50 / p99; n = queries timed)");
    print!("{:<10}", "type");
    for e in ENGINES {
        print!(" | {:>22}", e);
    }
    println!(" | {:>9} {:>9}", "hits", "count");
    for r in results {
        print!("{:<10}", r.t.name());
        for e in ENGINES {
            let c = &r.cells[e];
            let s = if let Some(err) = &c.error {
                format!("FAILED: {}", err.chars().take(14).collect::<String>())
            } else {
                format!(
                    "{:>7} / {:>7} n={:<3}",
                    fmt_ms(r.p(e, 50.0)),
                    fmt_ms(r.p(e, 99.0)),
                    c.lat_ms.len()
                )
            };
            print!(" | {s:>22}");
        }
        // ours' mean page size, and mean count where counted
        let o = &r.cells["ours"].answers;
        let hits = o.iter().map(|a| a.ids.len()).sum::<usize>() as f64 / o.len().max(1) as f64;
        let counts: Vec<u64> = o.iter().filter_map(|a| a.count).collect();
        let count = if counts.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{:.0}",
                counts.iter().sum::<u64>() as f64 / counts.len() as f64
            )
        };
        println!(" | {hits:>9.1} {count:>9}");
    }
    println!();
    println!("### {title}: other / ours (>1: ours faster), and agreement with ours (same page and count)");
    println!(
        "{:<10} | {:>9} {:>9} {:>9} {:>9} | {:>14} {:>14} {:>14}",
        "type", "fts5a p50", "fts5a p99", "fts5b p50", "like p50", "= fts5a", "= fts5b", "= like"
    );
    for r in results {
        let o50 = r.p("ours", 50.0);
        let o99 = r.p("ours", 99.0);
        let agree = |e: &str| {
            let (a, n) = r.agreement(e);
            if n == 0 {
                "NA".to_string()
            } else {
                format!("{:.1}% of {}", a * 100.0, n)
            }
        };
        println!(
            "{:<10} | {:>9} {:>9} {:>9} {:>9} | {:>14} {:>14} {:>14}",
            r.t.name(),
            fmt_ratio(r.p("fts5a", 50.0) / o50),
            fmt_ratio(r.p("fts5a", 99.0) / o99),
            fmt_ratio(r.p("fts5b", 50.0) / o50),
            fmt_ratio(r.p("like", 50.0) / o50),
            agree("fts5a"),
            agree("fts5b"),
            agree("like"),
        );
    }
    // one example of each kind of disagreement between ours and fts5a, to
    // judge it by
    for r in results {
        let (Some(o), Some(f)) = (r.cells.get("ours"), r.cells.get("fts5a")) else {
            continue;
        };
        if let Some(i) =
            (0..o.answers.len().min(f.answers.len())).find(|&i| o.answers[i] != f.answers[i])
        {
            let (a, b) = (&o.answers[i], &f.answers[i]);
            let only_ours = a.ids.iter().filter(|x| !b.ids.contains(x)).count();
            let only_fts = b.ids.iter().filter(|x| !a.ids.contains(x)).count();
            println!(
                "  disagreement ({}): query {:?}: ours {} ids (count {:?}), fts5a {} ids (count {:?}); {} only in ours, {} only in fts5a",
                r.t.name(),
                r.queries[i],
                a.ids.len(),
                a.count,
                b.ids.len(),
                b.count,
                only_ours,
                only_fts
            );
        }
    }
}

struct LoadResult {
    engine: &'static str,
    secs: f64,
    settle_secs: f64,
    bytes: u64,
}

type Engines = Vec<Box<dyn Engine>>;

fn load_all(ds: &Dataset, dir: &Path) -> Result<(Engines, Vec<LoadResult>), String> {
    let mut engines: Engines = vec![
        Box::new(Ours::new(dir.join("ours"))?),
        Box::new(Sqlite::new(Layout::FtsA, dir.join("fts5a.db"))?),
        Box::new(Sqlite::new(Layout::FtsB, dir.join("fts5b.db"))?),
        Box::new(Sqlite::new(Layout::Like, dir.join("like.db"))?),
    ];
    let mut out = Vec::new();
    for e in engines.iter_mut() {
        eprintln!(
            "bench-mam: loading {} messages into {} ...",
            ds.messages.len(),
            e.name()
        );
        let t0 = Instant::now();
        e.load(&ds.messages, BATCH)?;
        let secs = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let bytes = e.settle()?;
        out.push(LoadResult {
            engine: e.name(),
            secs,
            settle_secs: t1.elapsed().as_secs_f64(),
            bytes,
        });
    }
    Ok((engines, out))
}

fn print_load(ds: &Dataset, loads: &[LoadResult]) {
    let n = ds.messages.len() as f64;
    let body_bytes: usize = ds.messages.iter().map(|m| m.body.len()).sum();
    println!();
    println!(
        "### dataset {}: indexing {} messages (bodies {} MB), batches of {BATCH}",
        ds.name,
        ds.messages.len(),
        mb(body_bytes as u64)
    );
    println!(
        "{:<6} | {:>10} | {:>8} | {:>9} | {:>9} | {:>9}",
        "engine", "msgs/s", "load s", "settle s", "disk MB", "bytes/msg"
    );
    for l in loads {
        println!(
            "{:<6} | {:>10.0} | {:>8.2} | {:>9.2} | {:>9} | {:>9.0}",
            l.engine,
            n / l.secs,
            l.secs,
            l.settle_secs,
            mb(l.bytes),
            l.bytes as f64 / n
        );
    }
    let size = |e: &str| {
        loads
            .iter()
            .find(|l| l.engine == e)
            .map(|l| l.bytes)
            .unwrap_or(0)
    };
    println!(
        "  fts5a's FTS part alone (fts5a.db - like.db, same messages table): {} MB",
        mb(size("fts5a").saturating_sub(size("like")))
    );
}

struct Searchable {
    ours_default_ms: Vec<f64>,
    ours_commit_ms: Vec<f64>,
    sql_ms: HashMap<&'static str, Vec<f64>>,
}

/// Delay until a new message is found by a search: ours with the default
/// commit interval (polling search), ours with an explicit commit(), and
/// SQLite (one-row transaction, then the query).
fn searchable(
    engines: &mut [Box<dyn Engine>],
    ours: &mut Ours,
    ds: &Dataset,
    probes: usize,
) -> Result<Searchable, String> {
    let archive = ds.messages[0].archive_id;
    let mut next_id = ds.messages.last().unwrap().mam_id + (1_000_000 << 8);
    let mut probe = |k: usize, tag: &str| {
        next_id += 1 << 8;
        let word = format!("zqprobe{tag}{k}");
        (
            Message {
                archive_id: archive,
                mam_id: next_id,
                remote_jid: "contact0@example.com".into(),
                remote_resource: "phone".into(),
                is_groupchat: false,
                body: format!("Probe {word} here"),
            },
            word,
        )
    };
    let mut s = Searchable {
        ours_default_ms: Vec::new(),
        ours_commit_ms: Vec::new(),
        sql_ms: HashMap::new(),
    };
    for k in 0..probes {
        let (m, word) = probe(k, "d");
        s.ours_default_ms.push(ours.searchable_after(&m, &word)?);
        // start the next probe at an even spread of phases of the commit
        // thread's 500 ms rhythm, as messages arriving at random times would
        std::thread::sleep(std::time::Duration::from_millis(
            (k as u64 * 500 / probes as u64 + 1) % 500,
        ));
    }
    for k in 0..probes {
        let (m, word) = probe(k, "c");
        let q = BQuery {
            archive_id: archive,
            words: vec![word],
            with: None,
            start: None,
            end: None,
            before: None,
            count: false,
        };
        let t0 = Instant::now();
        ours.add_one(&m)?;
        let a = ours.query(&q)?;
        let dt = t0.elapsed().as_secs_f64() * 1e3;
        if !a.ids.contains(&m.mam_id) {
            return Err("ours: not found right after commit()".into());
        }
        s.ours_commit_ms.push(dt);
        for e in engines.iter_mut() {
            if e.name() == "ours" {
                continue;
            }
            let t0 = Instant::now();
            e.add_one(&m)?;
            let a = e.query(&q)?;
            let dt = t0.elapsed().as_secs_f64() * 1e3;
            if !a.ids.contains(&m.mam_id) {
                return Err(format!("{}: not found right after commit", e.name()));
            }
            s.sql_ms.entry(e.name()).or_default().push(dt);
        }
    }
    Ok(s)
}

/// BENCH_INDEX_ONLY=N: index dataset A into a fresh index of ours N times
/// (load = index() in batches + the final commit, as in the full run) and
/// print msgs/s per run; the last line is `summary: index_msgs_per_s=...`
/// (the median run).
fn index_only(cfg: &Config, vocab: &Vocab, base: &Path, reps: usize) -> Result<(), String> {
    let mut drng = Rng::new(cfg.seed ^ 0xA);
    let ds = data::single_archive(vocab, cfg.messages, &mut drng);
    let mut rates = Vec::new();
    for r in 0..reps {
        let dir = base.join(format!("index-only-{r}"));
        let mut e = Ours::new(dir.clone())?;
        let t0 = Instant::now();
        e.load(&ds.messages, BATCH)?;
        let secs = t0.elapsed().as_secs_f64();
        let bytes = e.settle()?;
        drop(e);
        // one fast-field file per segment
        let segments = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .filter(|f| {
                f.as_ref()
                    .is_ok_and(|f| f.path().extension().is_some_and(|x| x == "fast"))
            })
            .count();
        let _ = std::fs::remove_dir_all(&dir);
        let rate = ds.messages.len() as f64 / secs;
        println!(
            "index-only run {}: {} messages in {secs:.2}s = {rate:.0} msgs/s, {} MB on disk, {segments} segments",
            r + 1,
            ds.messages.len(),
            mb(bytes)
        );
        rates.push(rate);
    }
    let s = sorted(&rates);
    println!("summary: index_msgs_per_s={:.0}", pct(&s, 50.0));
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench-mam: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let cfg = Config::from_env();
    let base = std::env::temp_dir().join(format!("bench-mam.{}", std::process::id()));
    std::fs::create_dir_all(&base).map_err(|e| e.to_string())?;
    let work = WorkDir {
        path: base.clone(),
        keep: cfg.keep,
    };
    let started = Instant::now();

    let mut rng = Rng::new(cfg.seed);
    let vocab = Vocab::new(&mut rng);
    let bands = Bands::new(&vocab);
    let ascii = vocab.words.iter().filter(|w| w.is_ascii()).count();
    println!(
        "# bench-mam: MAM full-text search (XEP-0313), ours vs SQLite FTS5 (two layouts) vs LIKE"
    );
    println!(
        "mode={} messages={} archives(B)={} queries/type={} budget/engine/type={}s seed={} sqlite={}",
        if cfg.quick { "quick" } else { "full" },
        cfg.messages,
        cfg.archives,
        cfg.queries,
        cfg.budget_s,
        cfg.seed,
        rusqlite::version()
    );
    println!(
        "vocabulary: {} words ({} non-ASCII), Zipf s={}; query bands (ASCII words only): frequent ranks {}..{} ({} words), medium {}..{} ({}), rare {}..{} ({})",
        vocab.words.len(),
        vocab.words.len() - ascii,
        data::WORD_S,
        data::FREQUENT.0,
        data::FREQUENT.1,
        bands.frequent.len(),
        data::MEDIUM.0,
        data::MEDIUM.1,
        bands.medium.len(),
        data::RARE.0,
        data::RARE.1,
        bands.rare.len()
    );
    println!("work dir: {}", work.path.display());

    if let Some(reps) = env_num::<usize>("BENCH_INDEX_ONLY") {
        return index_only(&cfg, &vocab, &base, reps.max(1));
    }

    let mut summary: Option<String> = None;
    for which in ["A", "B"] {
        let mut drng = Rng::new(cfg.seed ^ if which == "A" { 0xA } else { 0xB });
        let t0 = Instant::now();
        let ds = if which == "A" {
            data::single_archive(&vocab, cfg.messages, &mut drng)
        } else {
            data::many_archives(&vocab, cfg.archives, cfg.messages, &mut drng)
        };
        let sizes: Vec<usize> = {
            let mut s: Vec<usize> = ds.by_archive.values().map(Vec::len).collect();
            s.sort_unstable();
            s
        };
        let non_ascii = ds.messages.iter().filter(|m| !m.body.is_ascii()).count();
        let words: usize = ds
            .messages
            .iter()
            .map(|m| m.body.split_whitespace().count())
            .sum();
        println!();
        println!(
            "## dataset {which}: {} messages in {} archives (sizes: min {}, median {}, max {}); {:.1} words/body; {:.1}% of bodies non-ASCII; generated in {:.1}s",
            ds.messages.len(),
            ds.archives.len(),
            sizes[0],
            sizes[sizes.len() / 2],
            sizes[sizes.len() - 1],
            words as f64 / ds.messages.len() as f64,
            non_ascii as f64 * 100.0 / ds.messages.len() as f64,
            t0.elapsed().as_secs_f64()
        );

        let dir = base.join(which);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (mut engines, loads) = load_all(&ds, &dir)?;
        print_load(&ds, &loads);

        let sets: Vec<(String, Pick)> = if which == "A" {
            vec![("A (one archive)".into(), Pick::Archive(1))]
        } else {
            vec![
                (
                    "B-bysize (archive of a random message)".into(),
                    Pick::BySize,
                ),
                ("B-uniform (a random archive)".into(), Pick::Uniform),
            ]
        };
        let mut a_results: Option<Vec<TypeResult>> = None;
        for (si, (title, pick)) in sets.iter().enumerate() {
            let mut qrng = Rng::new(cfg.seed ^ (0x5EED_0000 + si as u64) ^ (which == "B") as u64);
            if which == "A" {
                // how SQLite runs each kind of query
                println!();
                println!(
                    "### SQLite statements and query plans (first query of each kind, archive 1)"
                );
                for t in [
                    QType::Newest50,
                    QType::With,
                    QType::Range,
                    QType::BeforeId,
                    QType::Count,
                ] {
                    let q = data::queries(&ds, &bands, t, *pick, 1, &mut qrng.clone());
                    println!("{}:", t.name());
                    for e in engines.iter_mut() {
                        for line in e.explain(&q[0]) {
                            println!("  {}: {}", e.name(), line);
                        }
                    }
                }
            }
            let mut results = Vec::new();
            for &t in ALL_TYPES {
                let qs = data::queries(&ds, &bands, t, *pick, cfg.queries, &mut qrng);
                eprintln!("bench-mam: {which} {title}: {} ...", t.name());
                results.push(run_type(&mut engines, t, qs, cfg.budget_s));
            }
            print_set(title, &results);
            if which == "A" {
                a_results = Some(results);
            }
        }

        if which == "A" {
            // the searchable delay, on the 1M archive
            let (first, rest) = engines.split_at_mut(1);
            let ours = first[0].as_ours().expect("engines[0] is ours");
            let s = searchable(rest, ours, &ds, cfg.probes)?;
            let d = sorted(&s.ours_default_ms);
            let c = sorted(&s.ours_commit_ms);
            println!();
            println!(
                "### delay until a new message is found by a search, ms ({} probes, p50 / p99 / max)",
                cfg.probes
            );
            println!(
                "ours, default commit interval (500 ms), polling search: {} / {} / {}",
                fmt_ms(pct(&d, 50.0)),
                fmt_ms(pct(&d, 99.0)),
                fmt_ms(*d.last().unwrap())
            );
            println!(
                "ours, index() + explicit commit() + search:           {} / {} / {}",
                fmt_ms(pct(&c, 50.0)),
                fmt_ms(pct(&c, 99.0)),
                fmt_ms(*c.last().unwrap())
            );
            for e in ["fts5a", "fts5b", "like"] {
                let v = sorted(&s.sql_ms[e]);
                println!(
                    "{e:<6} one-row transaction (WAL, synchronous=NORMAL) + search: {} / {} / {}",
                    fmt_ms(pct(&v, 50.0)),
                    fmt_ms(pct(&v, 99.0)),
                    fmt_ms(*v.last().unwrap())
                );
            }
            let r = a_results.as_ref().unwrap();
            let n50 = r.iter().find(|r| r.t == QType::Newest50).unwrap();
            let ours_load = loads.iter().find(|l| l.engine == "ours").unwrap();
            summary = Some(format!(
                "summary: p50_ms={} p99_ms={} vs_like_p50={} vs_fts5_p50={} vs_fts5_p99={} index_msgs_per_s={:.0} searchable_ms={:.0}",
                fmt_ms(n50.p("ours", 50.0)),
                fmt_ms(n50.p("ours", 99.0)),
                fmt_ratio(n50.p("like", 50.0) / n50.p("ours", 50.0)),
                fmt_ratio(n50.p("fts5a", 50.0) / n50.p("ours", 50.0)),
                fmt_ratio(n50.p("fts5a", 99.0) / n50.p("ours", 99.0)),
                ds.messages.len() as f64 / ours_load.secs,
                pct(&d, 50.0)
            ));
        }
        drop(engines);
        if !cfg.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    println!();
    println!("total time {:.0}s", started.elapsed().as_secs_f64());
    drop(work);
    println!("{}", summary.unwrap());
    Ok(())
}
