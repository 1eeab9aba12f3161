//! The index's tantivy tokenizer: the words of `tokenize.rs`, handed to
//! tantivy one by one in a reused buffer (no string per word, no joining
//! and splitting again).

use super::tokenize::{Tokenizer, Words};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer as TTokenizer};

/// Tokenizes message bodies for the index as [`super::tokenize::words`] does.
#[derive(Clone)]
pub(crate) struct BodyTokenizer {
    tokenizer: Tokenizer,
    token: Token,
}

impl BodyTokenizer {
    pub(crate) fn new(tokenizer: Tokenizer) -> BodyTokenizer {
        BodyTokenizer {
            tokenizer,
            token: Token::default(),
        }
    }
}

impl TTokenizer for BodyTokenizer {
    type TokenStream<'a> = BodyTokens<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> BodyTokens<'a> {
        self.token.reset();
        self.token.position = usize::MAX;
        BodyTokens {
            words: Words::new(text, self.tokenizer),
            token: &mut self.token,
        }
    }
}

pub(crate) struct BodyTokens<'a> {
    words: Words<'a>,
    token: &'a mut Token,
}

impl TokenStream for BodyTokens<'_> {
    fn advance(&mut self) -> bool {
        // an empty word is never indexed (as when bodies were joined by spaces)
        while self.words.next_into(&mut self.token.text) {
            if !self.token.text.is_empty() {
                self.token.position = self.token.position.wrapping_add(1);
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mam::tokenize::words;

    #[test]
    fn the_index_sees_the_words_of_tokenize() {
        let texts = [
            "Hello, Wörld! 42x ΣΊΣΥΦΟΣ",
            "Zażółć gęślą jaźń, Ærøskøbing straße",
            "日本語 テキスト don't 3.14",
            "My cat, was eaten by: my dog?!? don't e-mail\nme",
            "",
            " ,.;  ",
        ];
        for tokenizer in [
            Tokenizer::Unicode {
                fold_diacritics: false,
            },
            Tokenizer::Unicode {
                fold_diacritics: true,
            },
            Tokenizer::MongooseCompat,
        ] {
            for text in texts {
                let mut t = BodyTokenizer::new(tokenizer);
                let mut stream = t.token_stream(text);
                let mut got = Vec::new();
                while stream.advance() {
                    got.push(stream.token().text.clone());
                }
                assert_eq!(got, words(text, tokenizer), "{tokenizer:?} {text:?}");
            }
        }
    }
}
