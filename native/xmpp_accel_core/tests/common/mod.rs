//! Generators shared by the property tests.

use proptest::prelude::*;
use xmpp_accel_core::xml::{Element, Node};

pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_.-]{0,8}",
        Just("message".to_string()),
        Just("body".to_string()),
        "[a-z]{1,3}:[a-z]{1,5}",
        "[\u{C0}-\u{D6}\u{D8}-\u{F6}][a-z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{2FF}]{0,4}",
    ]
}

/// Text made of XML characters, with the characters that need escaping.
pub fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z0-9 ]{1,6}",
            1 => Just("&".to_string()),
            1 => Just("<".to_string()),
            1 => Just(">".to_string()),
            1 => Just("'".to_string()),
            1 => Just("\"".to_string()),
            1 => Just("]]>".to_string()),
            1 => Just("\n".to_string()),
            1 => Just("\t".to_string()),
            1 => Just("\r".to_string()),
            1 => "[\u{80}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]{1,3}",
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

pub fn element() -> impl Strategy<Value = Element> {
    let leaf = (name(), prop::collection::vec(("[a-z]{1,6}", text()), 0..4))
        .prop_map(|(n, attrs)| mk(n, attrs, vec![]));
    leaf.prop_recursive(5, 40, 6, |inner| {
        (
            name(),
            prop::collection::vec(("[a-z]{1,6}", text()), 0..4),
            prop::collection::vec(
                prop_oneof![
                    3 => inner.prop_map(Node::Element),
                    1 => text().prop_map(Node::Text),
                    1 => text().prop_map(Node::CData),
                ],
                0..6,
            ),
        )
            .prop_map(|(n, attrs, children)| mk(n, attrs, children))
    })
}

/// An element whose prefixes are all declared on itself (namespace well-formed).
pub fn mk(name: String, attrs: Vec<(String, String)>, children: Vec<Node>) -> Element {
    let mut seen = std::collections::HashSet::new();
    let mut attrs: Vec<(String, String)> = attrs
        .into_iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect();
    if let Some((prefix, _)) = name.split_once(':') {
        attrs.push((format!("xmlns:{prefix}"), "urn:x".into()));
    }
    Element {
        name,
        attrs,
        children,
    }
}
