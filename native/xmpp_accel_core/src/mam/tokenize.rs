//! The words of a message body.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// How a body is cut into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tokenizer {
    /// Words by Unicode word segmentation (UAX #29: "don't" and "3.14" are
    /// one word, each Han ideograph is a word, punctuation is dropped);
    /// lower-cased; with `fold_diacritics`, combining marks are removed
    /// after canonical decomposition (é -> e, ż -> z) and the stroked Latin
    /// letters that do not decompose are mapped too (ł -> l, ø -> o).
    Unicode { fold_diacritics: bool },
    /// The words MongooseIM's `mod_mam_utils:normalize_search_text/2` gives:
    /// lower-case; runs of `, .:;<=>?!` become one space; every other
    /// character that is not a letter, digit, `_` or space is removed (so
    /// "don't" is "dont" and a newline joins the words around it); words are
    /// what the spaces separate.
    MongooseCompat,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::Unicode {
            fold_diacritics: false,
        }
    }
}

/// The words of `text`, in order.
pub fn words(text: &str, tokenizer: Tokenizer) -> Vec<String> {
    let mut cursor = Words::new(text, tokenizer);
    let mut out = Vec::new();
    let mut word = String::new();
    while cursor.next_into(&mut word) {
        out.push(word.clone());
    }
    out
}

/// The words of a text one by one, each written into a buffer the caller
/// reuses (what the index's tantivy tokenizer reads; see `analyzer.rs`).
pub(crate) enum Words<'a> {
    Unicode {
        words: unicode_segmentation::UnicodeWords<'a>,
        fold: bool,
    },
    /// The normalised text and how far it has been read.
    Compat { text: String, at: usize },
}

impl<'a> Words<'a> {
    pub(crate) fn new(text: &'a str, tokenizer: Tokenizer) -> Words<'a> {
        match tokenizer {
            Tokenizer::Unicode { fold_diacritics } => Words::Unicode {
                words: text.unicode_words(),
                fold: fold_diacritics,
            },
            Tokenizer::MongooseCompat => Words::Compat {
                text: mongoose_normalize(text),
                at: 0,
            },
        }
    }

    /// Writes the next word into `out` (replacing what it held); false at the end.
    pub(crate) fn next_into(&mut self, out: &mut String) -> bool {
        out.clear();
        match self {
            Words::Unicode { words, fold } => {
                let Some(w) = words.next() else {
                    return false;
                };
                if w.is_ascii() {
                    out.extend(w.bytes().map(|b| b.to_ascii_lowercase() as char));
                } else if *fold {
                    out.push_str(&fold_word(&w.to_lowercase()));
                } else {
                    out.push_str(&w.to_lowercase());
                }
                true
            }
            Words::Compat { text, at } => {
                let rest = &text[*at..];
                let Some(start) = rest.find(|c| c != ' ') else {
                    *at = text.len();
                    return false;
                };
                let word = &rest[start..];
                let len = word.find(' ').unwrap_or(word.len());
                out.push_str(&word[..len]);
                *at += start + len;
                true
            }
        }
    }
}

/// `mod_mam_utils:normalize_search_text/2`: lower-case; runs of
/// `[, .:;-?!]` (`;-?` being the range `;` to `?`) become one space; every
/// other character that is not a letter, digit or `_` is removed.
fn mongoose_normalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut in_sep = false;
    for c in lower.chars() {
        let sep = matches!(c, ',' | ' ' | '.' | ':' | ';' | '<' | '=' | '>' | '?' | '!');
        if sep {
            if !in_sep {
                out.push(' ');
            }
            in_sep = true;
            continue;
        }
        in_sep = false;
        if c.is_alphanumeric() || c == '_' {
            out.push(c);
        }
    }
    out
}

/// Removes diacritics: canonical decomposition (NFD), combining marks
/// dropped, recomposed (NFC); plus the stroked letters NFD leaves alone.
fn fold_word(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'ł' => 'l',
            'đ' => 'd',
            'ø' => 'o',
            'ı' => 'i',
            'ħ' => 'h',
            c => c,
        })
        .nfc()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_words() {
        assert_eq!(
            words("Hello, Wörld! 42x", Tokenizer::default()),
            ["hello", "wörld", "42x"]
        );
        assert_eq!(
            words(
                "Zażółć gęślą jaźń",
                Tokenizer::Unicode {
                    fold_diacritics: true
                }
            ),
            ["zazolc", "gesla", "jazn"]
        );
        assert_eq!(
            words("日本語 テキスト", Tokenizer::default()),
            ["日", "本", "語", "テキスト"]
        );
        assert_eq!(
            words("Don't pay 3.14 EUR; ok?", Tokenizer::default()),
            ["don't", "pay", "3.14", "eur", "ok"]
        );
        assert_eq!(
            words(
                "Ærøskøbing straße Crème",
                Tokenizer::Unicode {
                    fold_diacritics: true
                }
            ),
            ["æroskobing", "straße", "creme"]
        );
    }

    #[test]
    fn mongoose_quirks() {
        // MongooseIM's own example
        assert_eq!(
            words(
                "My cat, was eaten by: my dog?!? Why...?!?",
                Tokenizer::MongooseCompat
            ),
            ["my", "cat", "was", "eaten", "by", "my", "dog", "why"]
        );
        assert_eq!(
            words("don't e-mail\nme", Tokenizer::MongooseCompat),
            ["dont", "emailme"]
        );
        assert_eq!(
            words("a<b=c>d snake_case", Tokenizer::MongooseCompat),
            ["a", "b", "c", "d", "snake_case"]
        );
    }
}
