//! Shares equal short names within one parse result.
//!
//! A stanza repeats its element and attribute names (`item`, `jid`,
//! `subscription`, ...). One binary term per distinct name, used wherever
//! it occurs, makes the result smaller on the heap (the copying collector
//! keeps sharing inside a process) and saves building it again. Binaries
//! are immutable, so sharing cannot be observed.
//!
//! Short attribute values repeat as well (`type='chat'`,
//! `subscription='both'`) and go through the same table.
//!
//! Only names of at most eight bytes are shared: such a name is its own key
//! (one machine word), so a lookup is one multiply and one compare.

use crate::term::binary;
use rustler::sys::ErlNifTerm as ERL_NIF_TERM;
use rustler::Env;
use std::cell::RefCell;

const SLOTS: usize = 256;

#[derive(Clone, Copy)]
struct Slot {
    generation: u32,
    len: u32,
    key: u64,
    term: ERL_NIF_TERM,
}

fn empty() -> Slot {
    Slot {
        generation: 0,
        len: 0,
        key: 0,
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

/// Interning for the duration of one NIF call (terms are valid in its env only).
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

    /// A binary holding `name`, shared with earlier equal names of this call.
    #[inline]
    pub fn binary(&mut self, name: &[u8]) -> ERL_NIF_TERM {
        let (Some(table), true) = (self.table.as_deref_mut(), name.len() <= 8) else {
            return binary(self.env, name);
        };
        // the name's bytes as one little-endian word (no library copy call)
        let key = name
            .iter()
            .enumerate()
            .fold(0u64, |k, (i, &b)| k | (b as u64) << (8 * i));
        let index = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % SLOTS;
        let generation = table.generation;
        let slot = &mut table.slots[index];
        if slot.generation == generation && slot.key == key && slot.len as usize == name.len() {
            return slot.term;
        }
        let term = binary(self.env, name);
        *slot = Slot {
            generation,
            len: name.len() as u32,
            key,
            term,
        };
        term
    }
}
