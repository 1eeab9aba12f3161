//! Low-level term construction and inspection: one C call per term, no
//! intermediate vectors.

use rustler::sys::{
    enif_get_list_cell, enif_get_tuple, enif_is_empty_list, enif_make_list_from_array,
    enif_make_map_from_arrays, enif_make_new_binary, enif_make_tuple_from_array,
    ErlNifTerm as ERL_NIF_TERM,
};
use rustler::{Env, Term};

/// A new binary holding a copy of `bytes` (a heap binary up to 64 bytes).
#[inline]
pub fn binary(env: Env<'_>, bytes: &[u8]) -> ERL_NIF_TERM {
    let mut term: ERL_NIF_TERM = ERL_NIF_TERM::default();
    // SAFETY: enif_make_new_binary returns a writable buffer of `bytes.len()` bytes
    // (or NULL on allocation failure, which the VM treats as fatal before returning).
    unsafe {
        let data = enif_make_new_binary(env.as_c_arg(), bytes.len(), &mut term);
        if !bytes.is_empty() {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
        }
    }
    term
}

#[inline]
pub fn tuple(env: Env<'_>, items: &[ERL_NIF_TERM]) -> ERL_NIF_TERM {
    // SAFETY: every element is a valid term of `env`.
    unsafe { enif_make_tuple_from_array(env.as_c_arg(), items.as_ptr(), items.len() as u32) }
}

#[inline]
pub fn list(env: Env<'_>, items: &[ERL_NIF_TERM]) -> ERL_NIF_TERM {
    // SAFETY: every element is a valid term of `env`.
    unsafe { enif_make_list_from_array(env.as_c_arg(), items.as_ptr(), items.len() as u32) }
}

/// A map from distinct keys; `None` if a key repeats.
#[inline]
pub fn map(env: Env<'_>, keys: &[ERL_NIF_TERM], values: &[ERL_NIF_TERM]) -> Option<ERL_NIF_TERM> {
    debug_assert_eq!(keys.len(), values.len());
    let mut out: ERL_NIF_TERM = ERL_NIF_TERM::default();
    // SAFETY: both arrays hold `keys.len()` valid terms of `env`.
    let ok = unsafe {
        enif_make_map_from_arrays(
            env.as_c_arg(),
            keys.as_ptr(),
            values.as_ptr(),
            keys.len(),
            &mut out,
        )
    };
    (ok != 0).then_some(out)
}

/// Wraps a raw term of `env`.
#[inline]
pub fn wrap<'a>(env: Env<'a>, raw: ERL_NIF_TERM) -> Term<'a> {
    // SAFETY: `raw` was made in `env` by the functions above.
    unsafe { Term::new(env, raw) }
}

/// `{error, Reason :: binary()}`
pub fn error_tuple<'a>(env: Env<'a>, reason: &str) -> Term<'a> {
    let reason = binary(env, reason.as_bytes());
    wrap(
        env,
        tuple(
            env,
            &[crate::atoms::error().to_term(env).as_c_arg(), reason],
        ),
    )
}

/// The fields of a tuple, borrowed from the term (no copy); `None` if `term`
/// is not a tuple.
pub fn tuple_fields<'a>(env: Env<'a>, term: ERL_NIF_TERM) -> Option<&'a [ERL_NIF_TERM]> {
    let mut arity: i32 = 0;
    let mut fields: *const ERL_NIF_TERM = std::ptr::null();
    // SAFETY: enif_get_tuple fills `fields` with `arity` terms that live as long as `env`.
    unsafe {
        if enif_get_tuple(env.as_c_arg(), term, &mut arity, &mut fields) == 0 {
            return None;
        }
        Some(std::slice::from_raw_parts(fields, arity as usize))
    }
}

/// `list` is neither a cons cell nor `[]` (an improper tail, or not a list).
pub struct NotAList;

/// `Ok(Some((head, tail)))` for a cons cell, `Ok(None)` for `[]`.
pub fn list_cell(
    env: Env<'_>,
    list: ERL_NIF_TERM,
) -> Result<Option<(ERL_NIF_TERM, ERL_NIF_TERM)>, NotAList> {
    let mut head = ERL_NIF_TERM::default();
    let mut tail = ERL_NIF_TERM::default();
    // SAFETY: plain term inspection in `env`.
    unsafe {
        if enif_get_list_cell(env.as_c_arg(), list, &mut head, &mut tail) != 0 {
            Ok(Some((head, tail)))
        } else if enif_is_empty_list(env.as_c_arg(), list) != 0 {
            Ok(None)
        } else {
            Err(NotAList)
        }
    }
}
