//! Shares equal short binaries within one parse result.
//!
//! A stanza repeats its names and many values (`item`, `jid`, `both`,
//! namespaces). One binary term per distinct string, used wherever it occurs,
//! makes the result smaller on the heap (the copying collector keeps sharing
//! inside a process) and saves building it again. Binaries are immutable, so
//! sharing cannot be observed.

use crate::term::binary;
use rustler::sys::ErlNifTerm as ERL_NIF_TERM;
use rustler::Env;
use std::cell::RefCell;

/// Strings longer than this are not looked up (they rarely repeat).
const MAX_LEN: usize = 24;
const SLOTS: usize = 512;

#[derive(Clone, Copy)]
struct Slot {
    generation: u32,
    hash: u32,
    ptr: *const u8,
    len: u32,
    term: ERL_NIF_TERM,
}

fn empty() -> Slot {
    Slot {
        generation: 0,
        hash: 0,
        ptr: std::ptr::null(),
        len: 0,
        term: ERL_NIF_TERM::default(),
    }
}

struct Table {
    generation: u32,
    slots: Vec<Slot>,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table { generation: 0, slots: vec![empty(); SLOTS] });
}

/// Interning for the duration of one NIF call. The byte slices given to
/// [`Interner::binary`] must stay alive and unchanged while it lives (they are
/// the parser's tape).
pub struct Interner<'e, 't> {
    env: Env<'e>,
    table: Option<&'t mut Table>,
}

impl<'e> Interner<'e, '_> {
    /// Runs `f` with an interner whose entries are those of this call only.
    pub fn with<R>(env: Env<'e>, f: impl FnOnce(&mut Interner<'e, '_>) -> R) -> R {
        TABLE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut table) => {
                table.generation = table.generation.wrapping_add(1);
                if table.generation == 0 {
                    // after 2^32 calls, forget every entry once
                    table.slots.fill(empty());
                    table.generation = 1;
                }
                f(&mut Interner {
                    env,
                    table: Some(&mut table),
                })
            }
            Err(_) => f(&mut Interner { env, table: None }),
        })
    }

    /// A binary holding `bytes`, shared with earlier equal strings of this call.
    #[inline]
    pub fn binary(&mut self, bytes: &[u8]) -> ERL_NIF_TERM {
        let Some(table) = self.table.as_deref_mut() else {
            return binary(self.env, bytes);
        };
        if bytes.len() > MAX_LEN {
            return binary(self.env, bytes);
        }
        let hash = hash(bytes);
        let generation = table.generation;
        let slot = &mut table.slots[hash as usize % SLOTS];
        if slot.generation == generation && slot.hash == hash && slot.len as usize == bytes.len() {
            // SAFETY: a slot of this generation points into bytes that the
            // caller keeps alive for the whole call (see `Interner`).
            let seen = unsafe { std::slice::from_raw_parts(slot.ptr, slot.len as usize) };
            if seen == bytes {
                return slot.term;
            }
        }
        let term = binary(self.env, bytes);
        *slot = Slot {
            generation,
            hash,
            ptr: bytes.as_ptr(),
            len: bytes.len() as u32,
            term,
        };
        term
    }
}

/// A cheap hash of a short string: its length and its first and last
/// eight bytes (equality is checked on the bytes anyway).
#[inline]
fn hash(bytes: &[u8]) -> u32 {
    let n = bytes.len();
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let head = word(&bytes[..n.min(8)]);
    let tail = word(&bytes[n.saturating_sub(8)..]);
    let h = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 32) as u32
}
