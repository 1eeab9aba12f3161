//! The PostgreSQL room storage against a real PostgreSQL (Debian's
//! `postgresql` package): started here on 127.0.0.1 in a throwaway
//! directory (as the `postgres` user when run as root), on a free port in
//! 16600-16799, and stopped by pid. Skipped, with a message, when the
//! PostgreSQL binaries are absent.
//!
//! It runs the SQLite store's checks (conformance with the memory store,
//! inside a transaction and across a reconnect, schema versions, archive,
//! online resources) and the concurrency ones: two connections changing one
//! room's affiliations from two threads, two creating one room, and mam ids
//! allocated from two threads; and two MUC Light services (two instances)
//! changing one room through two connections at once.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use xmpp_accel_core::muclight::conformance::check_store;
use xmpp_accel_core::muclight::{
    user_order, Affiliation, BareJid, Jid, Options, Output, Room, RoomStore, Service,
};
use xmpp_accel_core::xml::{Element, Node};
use xmpp_accel_sidecar::storage::postgres::SCHEMA_VERSION;
use xmpp_accel_sidecar::storage::{
    ArchivedMessage, PgStore, PgTail, Storage, TailBatch, TailEvent, TailPosition,
};

/// A PostgreSQL server of this test: stopped (SIGINT, then SIGKILL) by pid
/// on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

fn bin_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(d));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("postgres").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `cmd` as the `postgres` user when we are root (initdb refuses root).
fn as_pg_user(bin: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ]);
        c.arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn free_port() -> u16 {
    let start = 16600 + (std::process::id() % 200) as u16;
    for i in 0..200 {
        let p = 16600 + (start - 16600 + i) % 200;
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port in 16600-16799");
}

impl Server {
    fn start(bin: &Path) -> Server {
        let root = is_root();
        let dir = tempfile::Builder::new().prefix("xa-pg-").tempdir().unwrap();
        let data = dir.path().join("data");
        if root {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(st.success(), "chown of the throwaway directory");
        }
        let out = as_pg_user(&bin.join("initdb"), root)
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = as_pg_user(&bin.join("postgres"), root)
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "fsync=off", "-c", "max_connections=50"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if postgres::Client::connect(&server.url("postgres"), postgres::NoTls).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            self.port
        )
    }

    /// A new empty database; its connection string.
    fn database(&self, name: &str) -> String {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        // fast shutdown; SIGKILL if it lingers
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn j(s: &str) -> BareJid {
    BareJid::new(s).unwrap()
}

#[test]
fn postgres_store() {
    let Some(bin) = bin_dir() else {
        println!(
            "SKIPPED postgres_store: no PostgreSQL binaries (/usr/lib/postgresql/*/bin/initdb; \
             apt-get install postgresql, or set PG_BIN)"
        );
        return;
    };
    let server = Server::start(&bin);
    let t0 = Instant::now();
    conforms(&server);
    conforms_inside_a_transaction_and_after_reconnect(&server);
    schema_versions(&server);
    archive_round_trip(&server);
    online_resources(&server);
    reconnects(&server);
    concurrent_affiliation_changes(&server);
    concurrent_service_changes(&server);
    concurrent_room_creation(&server);
    concurrent_mam_ids(&server);
    tail_out_of_order_commits(&server);
    println!("postgres_store: all checks passed in {:?}", t0.elapsed());
}

fn conforms(server: &Server) {
    let mut s = PgStore::connect(&server.database("conform"), 2).unwrap();
    check_store(&mut s).unwrap();
}

fn conforms_inside_a_transaction_and_after_reconnect(server: &Server) {
    let url = server.database("tx");
    let mut s = PgStore::connect(&url, 2).unwrap();
    s.begin().unwrap();
    check_store(&mut s).unwrap();
    s.commit().unwrap();
    let users = ["alice@a.test", "bob@a.test", "kate@b.test", "mike@b.test"].map(j);
    let snapshot = |s: &mut PgStore| -> Vec<_> {
        users
            .iter()
            .map(|u| {
                let mut r = s.user_rooms(u).unwrap();
                r.sort_by(user_order);
                (r, s.blocking(u).unwrap())
            })
            .collect()
    };
    let before = snapshot(&mut s);
    assert!(before.iter().any(|(r, _)| !r.is_empty()));
    drop(s);
    let mut s = PgStore::connect(&url, 2).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(snapshot(&mut s), before);
    // a rolled back transaction leaves nothing
    let r = j("gone@muclight.test");
    s.begin().unwrap();
    let room = Room {
        config: vec![("roomname".into(), "x".into())],
        affiliations: vec![(j("alice@a.test"), Affiliation::Owner)],
        version: "v1".into(),
    };
    assert!(s.create_room(&r, &room).unwrap());
    s.rollback().unwrap();
    assert!(s.room(&r).unwrap().is_none());
}

fn schema_versions(server: &Server) {
    let url = server.database("schema");
    let mut s = PgStore::connect(&url, 1).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    drop(s);
    // a second start migrates nothing; a newer database is refused
    let mut s = PgStore::connect(&url, 1).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    drop(s);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute("UPDATE xa_schema SET version = 99")
        .unwrap();
    let e = PgStore::connect(&url, 1).err().unwrap().to_string();
    assert!(e.contains("schema version 99"), "{e}");
}

fn archive_round_trip(server: &Server) {
    let mut s = PgStore::connect(&server.database("archive"), 2).unwrap();
    let room = j("coven@muclight.test");
    assert_eq!(s.archive_id(&room, false).unwrap(), None);
    let id = s.archive_id(&room, true).unwrap().unwrap();
    assert_eq!(s.archive_id(&room, true).unwrap(), Some(id));
    for n in 1..=5u64 {
        s.append(&ArchivedMessage {
            archive_id: id,
            mam_id: n << 8,
            sender: Some("alice@a.test".into()),
            body: format!("hello {n}"),
            stanza: format!("<message>{n}</message>").into_bytes(),
        })
        .unwrap();
    }
    assert_eq!(s.last_mam_id().unwrap(), Some(5 << 8));
    let after = s.messages_after(id, Some(2 << 8), 2).unwrap();
    assert_eq!(
        after.iter().map(|m| m.mam_id >> 8).collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(after[0].body, "hello 3");
    assert_eq!(after[0].sender.as_deref(), Some("alice@a.test"));
    let got = s.stanzas(id, &[4 << 8, 99, 1 << 8]).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], (4 << 8, b"<message>4</message>".to_vec()));
    assert_eq!(got[1].0, 1 << 8);
    assert_eq!(s.archives().unwrap(), [(id, room.to_string())]);
    assert_eq!(s.delete_archive(&room).unwrap(), Some(id));
    assert!(s.messages_after(id, None, 10).unwrap().is_empty());
    let id2 = s.archive_id(&room, true).unwrap().unwrap();
    assert_ne!(id, id2, "a new room life gets a new archive");
}

fn online_resources(server: &Server) {
    let mut s = PgStore::connect(&server.database("resources"), 1).unwrap();
    let (a, b) = ("alice@a.test".to_owned(), "phone".to_owned());
    s.update_resources(&[
        (a.clone(), b.clone(), true),
        (a.clone(), "pc".into(), true),
        (a.clone(), b.clone(), true),
    ])
    .unwrap();
    s.update_resources(&[(a.clone(), "pc".into(), false)])
        .unwrap();
    assert_eq!(s.resources().unwrap(), [(a, b)]);
}

/// The server ends the store's connections (a restart, an operator): the
/// stanza in flight fails, the next one gets a new connection.
fn reconnects(server: &Server) {
    let url = server.database("reconnect");
    let mut s = PgStore::connect(&url, 2).unwrap();
    let r = j("phoenix@muclight.test");
    let room = Room {
        config: vec![],
        affiliations: vec![(j("alice@a.test"), Affiliation::Owner)],
        version: "v1".into(),
    };
    assert!(s.create_room(&r, &room).unwrap());
    s.begin().unwrap();
    assert!(s.room(&r).unwrap().is_some());
    let mut admin = postgres::Client::connect(&server.url("postgres"), postgres::NoTls).unwrap();
    let n = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'reconnect'",
            &[],
        )
        .unwrap();
    assert!(n >= 1);
    assert!(s.room(&r).is_err(), "the connection was ended");
    s.rollback().unwrap();
    let t = Instant::now();
    s.begin().unwrap();
    assert_eq!(s.room(&r).unwrap().unwrap().version, "v1");
    s.commit().unwrap();
    println!("postgres_store: reconnected in {:?}", t.elapsed());
}

/// Two connections (two instances) add members to one room from two
/// threads, each change a read-modify-write inside a transaction, as the
/// service does: read the room (which locks it), compute the new list and
/// the next version, write both. No change may be lost, and the version
/// must count every change.
fn concurrent_affiliation_changes(server: &Server) {
    const EACH: usize = 40;
    let mut s = PgStore::connect(&server.database("concurrent"), 4).unwrap();
    let room = j("busy@muclight.test");
    let owner = j("owner@a.test");
    assert!(s
        .create_room(
            &room,
            &Room {
                config: vec![("roomname".into(), "busy".into())],
                affiliations: vec![(owner.clone(), Affiliation::Owner)],
                version: "0".into(),
            },
        )
        .unwrap());
    let workers: Vec<_> = ["x", "y"]
        .into_iter()
        .map(|tag| {
            let mut st = s.another();
            let room = room.clone();
            std::thread::spawn(move || {
                let mut versions = Vec::new();
                for i in 0..EACH {
                    st.begin().unwrap();
                    let mut affs = st.room_affiliations(&room).unwrap().unwrap();
                    let cur: usize = st.room(&room).unwrap().unwrap().version.parse().unwrap();
                    // widen the window between read and write
                    std::thread::sleep(Duration::from_micros(300));
                    affs.push((j(&format!("{tag}{i}@b.test")), Affiliation::Member));
                    let v = (cur + 1).to_string();
                    st.set_affiliations(&room, &affs, &v, &[], &[]).unwrap();
                    st.commit().unwrap();
                    versions.push(cur + 1);
                }
                versions
            })
        })
        .collect();
    let mut all: Vec<usize> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    all.sort();
    // every change saw the one before it: versions 1..=2*EACH, none twice
    assert_eq!(all, (1..=2 * EACH).collect::<Vec<_>>());
    let r = s.room(&room).unwrap().unwrap();
    assert_eq!(r.version, (2 * EACH).to_string());
    assert_eq!(r.affiliations.len(), 2 * EACH + 1, "a change was lost");
    let members: BTreeSet<String> = r.affiliations.iter().map(|(u, _)| u.to_string()).collect();
    for tag in ["x", "y"] {
        for i in 0..EACH {
            assert!(members.contains(&format!("{tag}{i}@b.test")));
        }
    }
    // and each member's room list agrees
    assert_eq!(s.user_rooms(&j("y7@b.test")).unwrap(), [room]);
}

fn text_of(e: &Element, name: &str) -> Option<String> {
    e.children.iter().find_map(|c| match c {
        Node::Element(c) if c.name == name => Some(
            c.children
                .iter()
                .filter_map(|t| match t {
                    Node::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    })
}

/// The (prev-version, version) of the staying members' notification of an
/// affiliation change; or (None, version) of a creation.
fn versions_of(out: &[Output]) -> Option<(Option<String>, String)> {
    out.iter().find_map(|o| match o {
        Output::Broadcast(b) => b.stanza.children.iter().find_map(|c| match c {
            Node::Element(x) if x.name == "x" => {
                text_of(x, "version").map(|v| (text_of(x, "prev-version"), v))
            }
            _ => None,
        }),
        _ => None,
    })
}

/// Two component instances (two services, two connections) on one room:
/// the owner adds members through both at once, each stanza one
/// transaction as in the worker. Every change must build on the one
/// before it: the (prev-version, version) pairs of all changes form one
/// chain from the creation's version to the room's stored version, and
/// every member is in the room.
fn concurrent_service_changes(server: &Server) {
    const EACH: usize = 25;
    let s = PgStore::connect(&server.database("service"), 4).unwrap();
    let handle = |svc: &Service, st: &mut PgStore, xml: &str| -> Vec<Output> {
        let from = Jid::new("owner@a.test/desk").unwrap();
        let stanza = Element::parse(xml.as_bytes()).unwrap();
        st.begin().unwrap();
        let out = svc.handle(st, &from, &stanza).unwrap();
        st.commit().unwrap();
        out
    };
    let svc = Service::new("muclight.test", Options::default()).unwrap();
    let mut st = s.another();
    let created = handle(
        &svc,
        &mut st,
        "<iq to='shared@muclight.test' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#create'/></iq>",
    );
    let (_, first) = versions_of(&created).expect("creation version");
    let ws: Vec<_> = ["x", "y"]
        .into_iter()
        .map(|tag| {
            let mut st = s.another();
            std::thread::spawn(move || {
                let svc = Service::new("muclight.test", Options::default()).unwrap();
                (0..EACH)
                    .map(|i| {
                        let out = handle(
                            &svc,
                            &mut st,
                            &format!(
                                "<iq to='shared@muclight.test' id='a{i}' type='set'>\
                                 <query xmlns='urn:xmpp:muclight:0#affiliations'>\
                                 <user affiliation='member'>{tag}{i}@b.test</user></query></iq>"
                            ),
                        );
                        let (prev, v) = versions_of(&out).expect("change notification");
                        (prev.expect("prev-version"), v)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let pairs: Vec<(String, String)> = ws.into_iter().flat_map(|w| w.join().unwrap()).collect();
    let next: std::collections::HashMap<&str, &str> = pairs
        .iter()
        .map(|(p, v)| (p.as_str(), v.as_str()))
        .collect();
    assert_eq!(next.len(), 2 * EACH, "two changes built on one version");
    let mut at = first.as_str();
    let mut steps = 0;
    while let Some(n) = next.get(at) {
        at = n;
        steps += 1;
    }
    assert_eq!(steps, 2 * EACH, "the versions do not form one chain");
    let room = st.room(&j("shared@muclight.test")).unwrap().unwrap();
    assert_eq!(room.version, at);
    assert_eq!(room.affiliations.len(), 2 * EACH + 1);
}

/// Two connections create the same room at once: exactly one wins.
fn concurrent_room_creation(server: &Server) {
    let s = PgStore::connect(&server.database("creation"), 4).unwrap();
    for n in 0..10 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let room = j(&format!("race{n}@muclight.test"));
        let ws: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|who| {
                let mut st = s.another();
                let (room, barrier) = (room.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let data = Room {
                        config: vec![],
                        affiliations: vec![(j(&format!("{who}@a.test")), Affiliation::Owner)],
                        version: who.into(),
                    };
                    st.begin().unwrap();
                    barrier.wait();
                    let won = st.create_room(&room, &data).unwrap();
                    st.archive_id(&room, true).unwrap().unwrap();
                    std::thread::sleep(Duration::from_millis(2));
                    st.commit().unwrap();
                    (who, won)
                })
            })
            .collect();
        let res: Vec<_> = ws.into_iter().map(|w| w.join().unwrap()).collect();
        let winners: Vec<_> = res.iter().filter(|r| r.1).collect();
        assert_eq!(winners.len(), 1, "{res:?}");
        let mut st = s.another();
        let r = st.room(&room).unwrap().unwrap();
        assert_eq!(r.version, winners[0].0);
        assert_eq!(r.affiliations.len(), 1);
    }
}

/// Mam ids from two connections: unique, increasing on each, and the
/// database's clock in microseconds << 8.
fn concurrent_mam_ids(server: &Server) {
    const EACH: usize = 500;
    let s = PgStore::connect(&server.database("mamids"), 4).unwrap();
    let now = || {
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64)
            << 8
    };
    let before = now();
    let ws: Vec<_> = (0..2)
        .map(|_| {
            let mut st = s.another();
            std::thread::spawn(move || {
                let mut ids = Vec::with_capacity(EACH);
                for i in 0..EACH {
                    if i % 50 == 0 {
                        st.begin().unwrap();
                    }
                    ids.push(st.next_mam_id().unwrap());
                    if i % 50 == 49 {
                        // rolled back or not, an id is never handed out twice
                        if i % 100 == 49 {
                            st.rollback().unwrap();
                        } else {
                            st.commit().unwrap();
                        }
                    }
                }
                ids
            })
        })
        .collect();
    let lists: Vec<Vec<u64>> = ws.into_iter().map(|w| w.join().unwrap()).collect();
    let after = now();
    let mut all = BTreeSet::new();
    for l in &lists {
        assert!(l.windows(2).all(|w| w[0] < w[1]), "not increasing");
        all.extend(l.iter().copied());
    }
    assert_eq!(all.len(), 2 * EACH, "a mam id was handed out twice");
    // same machine, so the database's clock is ours (1 s of slack)
    let slack = 1_000_000 << 8;
    assert!(*all.first().unwrap() + slack >= before);
    assert!(*all.last().unwrap() <= after + slack);
    // a new connection continues above every id handed out
    let mut st = s.another();
    assert!(st.next_mam_id().unwrap() > *all.last().unwrap());
}

/// The archive tailer's reads: a transaction that took a smaller mam id
/// but commits after a bigger one (two rooms) is still read, once; a
/// deleted archive is reported; every row is read exactly once over many
/// interleaved writers; notifications wake the tailer.
fn tail_out_of_order_commits(server: &Server) {
    let url = server.database("tail");
    let mut a = PgStore::connect(&url, 8).unwrap();
    let mut b = a.another();
    let config: postgres::Config = url.parse().unwrap();
    let mut tail = PgTail::connect(&config).unwrap();
    let r1 = j("one@muclight.test");
    let r2 = j("two@muclight.test");
    let (a1, a2) = (
        a.archive_id(&r1, true).unwrap().unwrap(),
        a.archive_id(&r2, true).unwrap().unwrap(),
    );
    let msg = |aid, mam_id, body: &str| ArchivedMessage {
        archive_id: aid,
        mam_id,
        sender: Some("alice@a.test".into()),
        body: body.into(),
        stanza: b"<message/>".to_vec(),
    };
    let read = |tail: &mut PgTail, pos: &TailPosition| {
        let mut got = Vec::new();
        let mut deleted = Vec::new();
        let p = tail
            .read(pos, 3, |b| {
                match b {
                    TailBatch::Messages(ms) => got.extend(ms.into_iter().map(|m| m.body)),
                    TailBatch::Deleted(d) => deleted.extend(d),
                }
                Ok(())
            })
            .unwrap();
        (p, got, deleted)
    };
    let pos = tail.catch_up(100, |_| Ok(None), |_| Ok(())).unwrap();
    // A takes the smaller id and stays open; B takes a bigger one and commits
    a.begin().unwrap();
    let id_a = a.next_mam_id().unwrap();
    a.append(&msg(a1, id_a, "early id, late commit")).unwrap();
    b.begin().unwrap();
    let id_b = b.next_mam_id().unwrap();
    assert!(id_b > id_a);
    b.append(&msg(a2, id_b, "late id, early commit")).unwrap();
    b.commit().unwrap();
    let (pos, got, _) = read(&mut tail, &pos);
    assert_eq!(got, ["late id, early commit"]);
    // a tailer by `mam_id > last` would now skip A's row; this one does not
    a.commit().unwrap();
    let ev = tail.wait(Duration::from_secs(5)).unwrap();
    assert!(ev.contains(&TailEvent::Archive), "{ev:?}");
    let (pos, got, _) = read(&mut tail, &pos);
    assert_eq!(got, ["early id, late commit"]);
    let (mut pos, got, _) = read(&mut tail, &pos);
    assert!(got.is_empty(), "read twice: {got:?}");
    // many writers, interleaved commits, pages of 3: each row once
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut s = a.another();
            let aid = if w % 2 == 0 { a1 } else { a2 };
            std::thread::spawn(move || {
                for i in 0..50 {
                    s.begin().unwrap();
                    let id = s.next_mam_id().unwrap();
                    s.append(&msg(aid, id, &format!("w{w} m{i}"))).unwrap();
                    if i % 7 == 0 {
                        std::thread::sleep(Duration::from_millis(3));
                    }
                    s.commit().unwrap();
                }
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut total = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 200 {
        assert!(Instant::now() < deadline, "only {} of 200 read", seen.len());
        let (p, got, _) = read(&mut tail, &pos);
        pos = p;
        total += got.len();
        seen.extend(got);
        std::thread::sleep(Duration::from_millis(2));
    }
    for w in writers {
        w.join().unwrap();
    }
    let (p, got, _) = read(&mut tail, &pos);
    total += got.len();
    assert_eq!((seen.len(), total), (200, 200), "a row read twice");
    // a deleted archive is reported
    a.begin().unwrap();
    assert_eq!(a.delete_archive(&r2).unwrap(), Some(a2));
    a.commit().unwrap();
    let (_, _, deleted) = read(&mut tail, &p);
    assert_eq!(deleted, [a2]);
    // online resources are announced
    a.update_resources(&[("bob@a.test".into(), "pc".into(), true)])
        .unwrap();
    // (behind the archive notifications of the writes above)
    let want = TailEvent::Resource {
        member: "bob@a.test".into(),
        resource: "pc".into(),
        online: true,
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ev = Vec::new();
    while !ev.contains(&want) {
        assert!(Instant::now() < deadline, "{ev:?}");
        ev.extend(tail.wait(Duration::from_millis(500)).unwrap());
    }
}
