//! Fan-out templates render exactly what serialising the element with the
//! recipient's `to` gives (exml's compact layout, attributes in byte order).

mod common;

use common::{element, text};
use proptest::prelude::*;
use xmpp_accel_core::fanout::Template;
use xmpp_accel_core::xml::Style;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn render_equals_serialising_with_to(mut e in element(), jid in text()) {
        // exml writes a small attribute map in byte order
        e.attrs.sort();
        let template = Template::new(&e.walk(), None);
        let mut rendered = Vec::new();
        template.render(jid.as_bytes(), &mut rendered);
        let mut with_to = e.clone();
        with_to.attrs.retain(|(k, _)| k != "to");
        with_to.attrs.push(("to".into(), jid.clone()));
        with_to.attrs.sort();
        prop_assert_eq!(rendered, with_to.to_bytes(Style::Compact));
    }
}
