//! The words of a message body.

/// How a body is cut into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tokenizer {
    /// Words are runs of letters and digits (Unicode); lower-cased; with
    /// `fold_diacritics`, accents are removed (é -> e) where a plain letter exists.
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
    match tokenizer {
        Tokenizer::Unicode { fold_diacritics } => text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| {
                let lower = w.to_lowercase();
                if fold_diacritics {
                    fold(&lower)
                } else {
                    lower
                }
            })
            .collect(),
        Tokenizer::MongooseCompat => {
            let lower = text.to_lowercase();
            let mut out = String::with_capacity(lower.len());
            let mut in_sep = false;
            for c in lower.chars() {
                // `[, .:;-?!]` in a regex: `;-?` is the range `;` to `?`
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
            out.split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        }
    }
}

/// Removes the accents of Latin letters (a small, explicit table: the letters
/// of the European languages).
fn fold(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' | 'ā' | 'ă' => 'a',
            'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => 'c',
            'ď' | 'đ' => 'd',
            'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ē' | 'ě' | 'ė' => 'e',
            'ğ' | 'ĝ' | 'ġ' | 'ģ' => 'g',
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
            'ł' | 'ľ' | 'ĺ' | 'ļ' => 'l',
            'ñ' | 'ń' | 'ň' | 'ņ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
            'ř' | 'ŕ' => 'r',
            'ś' | 'š' | 'ş' | 'ș' => 's',
            'ť' | 'ţ' | 'ț' => 't',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => 'u',
            'ý' | 'ÿ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            c => c,
        })
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
            ["日本語", "テキスト"]
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
