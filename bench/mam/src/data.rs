//! Deterministic test data: a vocabulary with Zipf-distributed word
//! frequencies, message archives built from it, and the benchmark queries.

use std::collections::{HashMap, HashSet};
use xmpp_accel_core::mam::Message;

/// SplitMix64: small, fast, and the same sequence on every platform and
/// forever (no dependency whose algorithm could change between versions).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.f64() * n as f64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
}

/// Ranks 0..n with P(rank r) proportional to 1 / (r + 1)^s.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for r in 0..n {
            acc += 1.0 / ((r + 1) as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

pub const VOCAB: usize = 20_000;
/// Zipf exponent of word frequencies (natural language is about 1.0 to 1.2).
pub const WORD_S: f64 = 1.1;

/// Query word bands, as ranks (0-based) in the vocabulary.
pub const FREQUENT: (usize, usize) = (0, 100);
pub const MEDIUM: (usize, usize) = (1_000, 3_000);
pub const RARE: (usize, usize) = (10_000, 20_000);

pub struct Vocab {
    /// Words by frequency rank.
    pub words: Vec<String>,
    pub zipf: Zipf,
}

const ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br",
    "ch", "st", "tr", "pl", "gr", "sh", "th",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou", "ea"];
const CODAS: &[&str] = &["", "", "", "n", "r", "s", "l", "t", "m"];
const ACCENTED: &[(char, char)] = &[
    ('a', 'á'),
    ('a', 'ä'),
    ('e', 'é'),
    ('e', 'è'),
    ('o', 'ö'),
    ('o', 'ø'),
    ('u', 'ü'),
    ('i', 'í'),
    ('n', 'ñ'),
    ('c', 'ç'),
    ('s', 'ś'),
    ('z', 'ż'),
];
const CYRILLIC: &[char] = &[
    'а', 'б', 'в', 'г', 'д', 'е', 'ж', 'з', 'и', 'к', 'л', 'м', 'н', 'о', 'п', 'р', 'с', 'т', 'у',
    'ф', 'х', 'ц', 'ч', 'ш', 'ы', 'э', 'ю', 'я',
];
const GREEK: &[char] = &[
    'α', 'β', 'γ', 'δ', 'ε', 'ζ', 'η', 'θ', 'ι', 'κ', 'λ', 'μ', 'ν', 'ξ', 'ο', 'π', 'ρ', 'σ', 'τ',
    'υ', 'φ', 'χ', 'ψ', 'ω',
];

impl Vocab {
    /// 20,000 distinct words: about 95 % ASCII pseudo-words (2 to 4
    /// syllables), the rest with precomposed Latin diacritics, Cyrillic,
    /// Greek or CJK. Ranks are shuffled, so non-ASCII words are spread over
    /// all frequencies.
    pub fn new(rng: &mut Rng) -> Vocab {
        let mut seen = HashSet::new();
        let mut words = Vec::with_capacity(VOCAB);
        while words.len() < VOCAB {
            let kind = rng.f64();
            let w: String = if kind < 0.03 {
                let mut w = ascii_word(rng);
                let (from, to) = ACCENTED[rng.below(ACCENTED.len())];
                if let Some(pos) = w.find(from) {
                    w.replace_range(pos..pos + 1, &to.to_string());
                } else {
                    w.push(to);
                }
                w
            } else if kind < 0.04 {
                (0..3 + rng.below(5))
                    .map(|_| CYRILLIC[rng.below(CYRILLIC.len())])
                    .collect()
            } else if kind < 0.045 {
                (0..3 + rng.below(5))
                    .map(|_| GREEK[rng.below(GREEK.len())])
                    .collect()
            } else if kind < 0.05 {
                (0..2 + rng.below(3))
                    .map(|_| char::from_u32(0x4E00 + rng.below(3000) as u32).unwrap())
                    .collect()
            } else {
                ascii_word(rng)
            };
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        // shuffle (Fisher-Yates): the rank of a word is its position
        for i in (1..words.len()).rev() {
            let j = rng.below(i + 1);
            words.swap(i, j);
        }
        Vocab {
            words,
            zipf: Zipf::new(VOCAB, WORD_S),
        }
    }

    /// The ASCII words with rank in `band`.
    pub fn band(&self, band: (usize, usize)) -> Vec<&str> {
        self.words[band.0..band.1]
            .iter()
            .filter(|w| w.is_ascii())
            .map(String::as_str)
            .collect()
    }

    /// A message body of 5 to 30 words, with some capitals, punctuation,
    /// numbers and emoji.
    pub fn body(&self, rng: &mut Rng) -> String {
        let n = 5 + rng.below(26);
        let mut b = String::with_capacity(n * 8);
        for i in 0..n {
            if i > 0 {
                b.push(' ');
            }
            if rng.chance(0.02) {
                b.push_str(&format!("{} ", rng.below(1000)));
            }
            let w = &self.words[self.zipf.sample(rng)];
            if i == 0 || rng.chance(0.02) {
                let mut cs = w.chars();
                let first = cs.next().unwrap();
                if rng.chance(0.1) {
                    b.push_str(&w.to_uppercase());
                } else {
                    b.extend(first.to_uppercase());
                    b.push_str(cs.as_str());
                }
            } else {
                b.push_str(w);
            }
            if i + 1 < n && rng.chance(0.06) {
                b.push(',');
            }
        }
        b.push_str([".", "?", "!", "", "...", "!?"][rng.below(6)]);
        if rng.chance(0.02) {
            b.push_str(" 😀");
        }
        b
    }
}

fn ascii_word(rng: &mut Rng) -> String {
    let syllables = 2 + rng.below(3);
    let mut w = String::new();
    for _ in 0..syllables {
        w.push_str(ONSETS[rng.below(ONSETS.len())]);
        w.push_str(VOWELS[rng.below(VOWELS.len())]);
    }
    w.push_str(CODAS[rng.below(CODAS.len())]);
    w
}

/// First message time: 2024-01-01T00:00:00Z, in microseconds.
const T0_US: u64 = 1_704_067_200_000_000;

/// Messages of one or more archives, in mam id order (mam ids are unique
/// across archives in this data).
pub struct Dataset {
    pub name: &'static str,
    pub messages: Vec<Message>,
    /// archive id -> indexes into `messages`, ascending.
    pub by_archive: HashMap<u64, Vec<usize>>,
    /// Archive ids with at least one message, ascending.
    pub archives: Vec<u64>,
}

impl Dataset {
    fn new(name: &'static str, messages: Vec<Message>) -> Dataset {
        let mut by_archive: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            by_archive.entry(m.archive_id).or_default().push(i);
        }
        let mut archives: Vec<u64> = by_archive.keys().copied().collect();
        archives.sort_unstable();
        Dataset {
            name,
            messages,
            by_archive,
            archives,
        }
    }
}

fn next_mam_id(rng: &mut Rng, t_us: &mut u64) -> u64 {
    // mean gap 30 s: 1,000,000 messages span about a year
    *t_us += 1 + rng.below(60_000_000) as u64;
    *t_us << 8
}

const RESOURCES: &[&str] = &["", "phone", "laptop", "web", "tablet"];

/// (A): archive 1 with `n` messages, with 300 contacts (Zipf) and 20 rooms
/// (10 % groupchat).
pub fn single_archive(vocab: &Vocab, n: usize, rng: &mut Rng) -> Dataset {
    let contacts = Zipf::new(300, 1.0);
    let rooms = Zipf::new(20, 1.0);
    let mut t = T0_US;
    let mut messages = Vec::with_capacity(n);
    for _ in 0..n {
        let mam_id = next_mam_id(rng, &mut t);
        let (remote_jid, remote_resource, is_groupchat) = if rng.chance(0.1) {
            let room = rooms.sample(rng);
            (
                format!("room{room}@muc.example.com"),
                format!("nick{}", rng.below(40)),
                true,
            )
        } else {
            let c = contacts.sample(rng);
            (
                format!("contact{c}@example.com"),
                RESOURCES[rng.below(RESOURCES.len())].to_string(),
                false,
            )
        };
        messages.push(Message {
            archive_id: 1,
            mam_id,
            remote_jid,
            remote_resource,
            is_groupchat,
            body: vocab.body(rng),
        });
    }
    Dataset::new("A", messages)
}

/// (B): `n` messages over `archives` archives whose sizes follow Zipf
/// (s = 1: archive 1 is the largest, about a tenth of all messages), in one
/// time-ordered stream.
pub fn many_archives(vocab: &Vocab, archives: usize, n: usize, rng: &mut Rng) -> Dataset {
    let sizes = Zipf::new(archives, 1.0);
    let contacts = Zipf::new(300, 1.0);
    let rooms = Zipf::new(20, 1.0);
    let mut t = T0_US;
    let mut messages = Vec::with_capacity(n);
    for _ in 0..n {
        let archive_id = sizes.sample(rng) as u64 + 1;
        let mam_id = next_mam_id(rng, &mut t);
        let (remote_jid, remote_resource, is_groupchat) = if rng.chance(0.1) {
            let room = (archive_id as usize * 13 + rooms.sample(rng)) % 2_000;
            (
                format!("room{room}@muc.example.com"),
                format!("nick{}", rng.below(40)),
                true,
            )
        } else {
            let user = (archive_id as usize * 7_919 + contacts.sample(rng) * 31) % 50_000;
            (
                format!("user{user}@example.com"),
                RESOURCES[rng.below(RESOURCES.len())].to_string(),
                false,
            )
        };
        messages.push(Message {
            archive_id,
            mam_id,
            remote_jid,
            remote_resource,
            is_groupchat,
            body: vocab.body(rng),
        });
    }
    Dataset::new("B", messages)
}

/// One benchmark query. Every query asks for one page of at most 50 and
/// all its words must be in the body.
#[derive(Clone, Debug)]
pub struct BQuery {
    pub archive_id: u64,
    pub words: Vec<String>,
    /// A bare JID.
    pub with: Option<String>,
    /// Mam id range, both included.
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// `None`: the newest 50 (RSM `<before/>`, the last page).
    /// `Some(id)`: the 50 newest older than `id` (RSM `<before>id</before>`).
    pub before: Option<u64>,
    /// Also count the whole result set.
    pub count: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QType {
    /// The headline: 1 to 3 words, each from a random band.
    Newest50,
    Freq1,
    Med1,
    Rare1,
    /// frequent + medium
    Two,
    /// three frequent words
    Three,
    /// one frequent or medium word + with a bare JID
    With,
    /// one frequent or medium word + start/end (10 % of the archive's span)
    Range,
    /// one frequent or medium word, the page before a mam id in the newer half
    BeforeId,
    /// one word of a random band, newest 50 and count
    Count,
}

pub const ALL_TYPES: &[QType] = &[
    QType::Newest50,
    QType::Freq1,
    QType::Med1,
    QType::Rare1,
    QType::Two,
    QType::Three,
    QType::With,
    QType::Range,
    QType::BeforeId,
    QType::Count,
];

impl QType {
    pub fn name(self) -> &'static str {
        match self {
            QType::Newest50 => "newest50",
            QType::Freq1 => "1w-freq",
            QType::Med1 => "1w-med",
            QType::Rare1 => "1w-rare",
            QType::Two => "2w",
            QType::Three => "3w-freq",
            QType::With => "with",
            QType::Range => "range",
            QType::BeforeId => "before-id",
            QType::Count => "count",
        }
    }
}

/// How a query set picks its archive.
#[derive(Clone, Copy, Debug)]
pub enum Pick {
    /// Always this archive.
    Archive(u64),
    /// The archive of a random message: big archives are asked most.
    BySize,
    /// A random archive: most archives are small.
    Uniform,
}

pub struct Bands<'a> {
    pub frequent: Vec<&'a str>,
    pub medium: Vec<&'a str>,
    pub rare: Vec<&'a str>,
}

impl<'a> Bands<'a> {
    pub fn new(v: &'a Vocab) -> Bands<'a> {
        Bands {
            frequent: v.band(FREQUENT),
            medium: v.band(MEDIUM),
            rare: v.band(RARE),
        }
    }
    fn pick(&self, band: usize, rng: &mut Rng) -> String {
        let b = match band {
            0 => &self.frequent,
            1 => &self.medium,
            _ => &self.rare,
        };
        b[rng.below(b.len())].to_string()
    }
}

/// `n` queries of type `t` on `ds`.
pub fn queries(
    ds: &Dataset,
    bands: &Bands,
    t: QType,
    pick: Pick,
    n: usize,
    rng: &mut Rng,
) -> Vec<BQuery> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let archive_id = match pick {
            Pick::Archive(a) => a,
            Pick::BySize => ds.messages[rng.below(ds.messages.len())].archive_id,
            Pick::Uniform => ds.archives[rng.below(ds.archives.len())],
        };
        let msgs = &ds.by_archive[&archive_id];
        let first = ds.messages[msgs[0]].mam_id;
        let last = ds.messages[*msgs.last().unwrap()].mam_id;
        let bands_of: Vec<usize> = match t {
            QType::Newest50 => (0..1 + rng.below(3)).map(|_| rng.below(3)).collect(),
            QType::Freq1 => vec![0],
            QType::Med1 => vec![1],
            QType::Rare1 => vec![2],
            QType::Two => vec![0, 1],
            QType::Three => vec![0, 0, 0],
            QType::With | QType::Range | QType::BeforeId => vec![rng.below(2)],
            QType::Count => vec![rng.below(3)],
        };
        let mut words: Vec<String> = Vec::new();
        for b in bands_of {
            loop {
                let w = bands.pick(b, rng);
                if !words.contains(&w) {
                    words.push(w);
                    break;
                }
            }
        }
        let mut q = BQuery {
            archive_id,
            words,
            with: None,
            start: None,
            end: None,
            before: None,
            count: false,
        };
        match t {
            QType::With => {
                // a correspondent of this archive, weighted by how often it writes
                let m = &ds.messages[msgs[rng.below(msgs.len())]];
                q.with = Some(m.remote_jid.clone());
            }
            QType::Range => {
                let span = last - first;
                let width = span / 10;
                let start = first + (rng.f64() * (span - width) as f64) as u64;
                q.start = Some(start);
                q.end = Some(start + width);
            }
            QType::BeforeId => {
                let i = msgs.len() / 2 + rng.below(msgs.len() - msgs.len() / 2);
                q.before = Some(ds.messages[msgs[i]].mam_id);
            }
            QType::Count => q.count = true,
            _ => {}
        }
        out.push(q);
    }
    out
}
