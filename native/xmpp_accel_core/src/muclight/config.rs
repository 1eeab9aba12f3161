//! Service options and the room configuration schema, as MongooseIM's
//! `mod_muc_light` options (`doc/modules/mod_muc_light.md`) define them.

use thiserror::Error;

/// The typed default of a configuration field; its type is the field's type.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    /// `string_value`
    String(String),
    /// `integer_value` (64-bit here; Erlang's are unbounded)
    Integer(i64),
    /// `float_value`
    Float(f64),
    /// `boolean_value`
    Boolean(bool),
}

impl ConfigValue {
    /// The value as it is stored and sent: strings as they are, integers in
    /// decimal, booleans `true`/`false`, floats as Erlang's
    /// `float_to_binary/1` writes them (`3.00000000000000000000e+01`).
    pub fn to_text(&self) -> String {
        match self {
            ConfigValue::String(s) => s.clone(),
            ConfigValue::Integer(i) => i.to_string(),
            ConfigValue::Boolean(b) => b.to_string(),
            ConfigValue::Float(f) => erlang_float(*f),
        }
    }

    /// Parses `text` as a value of this value's type, as MongooseIM's
    /// `binary_to_integer/1`, `binary_to_float/1` (digits, a point, digits,
    /// an optional exponent) and `true`/`false` do; `None` is its `type_error`.
    pub fn parse_same_type(&self, text: &str) -> Option<ConfigValue> {
        Some(match self {
            ConfigValue::String(_) => ConfigValue::String(text.to_owned()),
            ConfigValue::Integer(_) => ConfigValue::Integer(parse_erlang_integer(text)?),
            ConfigValue::Float(_) => ConfigValue::Float(parse_erlang_float(text)?),
            ConfigValue::Boolean(_) => ConfigValue::Boolean(match text {
                "true" => true,
                "false" => false,
                _ => return None,
            }),
        })
    }
}

fn parse_erlang_integer(t: &str) -> Option<i64> {
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.strip_prefix('+').unwrap_or(t).parse().ok()
}

fn parse_erlang_float(t: &str) -> Option<f64> {
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) {
        return None;
    }
    if let Some(e) = exp {
        if !all_digits(e.strip_prefix(['+', '-']).unwrap_or(e)) {
            return None;
        }
    }
    let v: f64 = t.parse().ok()?;
    v.is_finite().then_some(v)
}

/// `float_to_binary(F)`: 20 digits after the point, scientific notation with
/// a signed exponent of at least two digits.
fn erlang_float(f: f64) -> String {
    let s = format!("{f:.20e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// One field of the room configuration schema (`config_schema` item).
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaField {
    /// The element name on the wire (`field`).
    pub field: String,
    /// The default, which also gives the type.
    pub default: ConfigValue,
    /// `internal_key` (defaults to `field`). The keys `roomname`,
    /// `all_can_configure` and `all_can_invite` have a meaning: the room
    /// name shown in disco#items, and per-room overrides of the two options.
    pub internal_key: String,
}

/// An invalid `config_schema`.
#[derive(Debug, Error, PartialEq)]
pub enum SchemaError {
    #[error("config_schema: empty field name")]
    /// A `field` or `internal_key` is empty.
    EmptyField,
    /// `version` and `prev-version` name the room version on the wire.
    #[error("config_schema: field name {0} is reserved")]
    ReservedField(String),
    /// `roomname` must be a string, `all_can_configure` and `all_can_invite` booleans.
    #[error("config_schema: reserved key {key} must be a {expected}")]
    ReservedType {
        /// The internal key.
        key: String,
        /// The type it must have.
        expected: &'static str,
    },
}

/// The configuration fields a room may have, sorted by field name, one per
/// name (the first given wins, as MongooseIM's `lists:ukeysort/2`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigSchema {
    fields: Vec<SchemaField>,
}

impl Default for ConfigSchema {
    /// MongooseIM's default: `roomname` ("Untitled") and `subject` ("").
    fn default() -> Self {
        ConfigSchema {
            fields: vec![
                SchemaField {
                    field: "roomname".into(),
                    default: ConfigValue::String("Untitled".into()),
                    internal_key: "roomname".into(),
                },
                SchemaField {
                    field: "subject".into(),
                    default: ConfigValue::String(String::new()),
                    internal_key: "subject".into(),
                },
            ],
        }
    }
}

impl ConfigSchema {
    /// Validates and sorts `fields`: names must be non-empty and not
    /// `version` or `prev-version` (the extension reserves them), and the
    /// reserved keys must have their types (`roomname` a string,
    /// `all_can_configure` and `all_can_invite` booleans).
    pub fn new(fields: Vec<SchemaField>) -> Result<Self, SchemaError> {
        for f in &fields {
            if f.field.is_empty() || f.internal_key.is_empty() {
                return Err(SchemaError::EmptyField);
            }
            if f.field == "version" || f.field == "prev-version" {
                return Err(SchemaError::ReservedField(f.field.clone()));
            }
            let expected = match f.internal_key.as_str() {
                "roomname" => Some(("string", matches!(f.default, ConfigValue::String(_)))),
                "all_can_configure" | "all_can_invite" => {
                    Some(("boolean", matches!(f.default, ConfigValue::Boolean(_))))
                }
                _ => None,
            };
            if let Some((name, false)) = expected {
                return Err(SchemaError::ReservedType {
                    key: f.internal_key.clone(),
                    expected: name,
                });
            }
        }
        let mut sorted: Vec<SchemaField> = Vec::with_capacity(fields.len());
        for f in fields {
            if !sorted.iter().any(|s| s.field == f.field) {
                sorted.push(f);
            }
        }
        sorted.sort_by(|a, b| a.field.cmp(&b.field));
        Ok(ConfigSchema { fields: sorted })
    }

    /// The fields, sorted by name.
    pub fn fields(&self) -> &[SchemaField] {
        &self.fields
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&SchemaField> {
        self.fields.iter().find(|f| f.field == name)
    }

    /// The field whose internal key is `key`.
    pub fn by_internal_key(&self, key: &str) -> Option<&SchemaField> {
        self.fields.iter().find(|f| f.internal_key == key)
    }

    /// Every field at its default, in schema order.
    pub fn defaults(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|f| (f.field.clone(), f.default.to_text()))
            .collect()
    }

    /// Checks raw `(field, value)` pairs against the schema, as MongooseIM's
    /// `mod_muc_light_room_config:from_binary_kv_diff/2`: for a repeated
    /// field the first pair given wins; every field must exist and its value
    /// parse as the field's type. Returns the pairs with canonical values,
    /// sorted by field name, or `Err("field:not_found" | "field:type_error")`.
    pub fn check(&self, raw: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut sorted: Vec<&(String, String)> = raw.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0)); // stable: the first of equal keys stays first
        for (k, v) in sorted {
            if out.iter().any(|(ok, _)| ok == k) {
                continue;
            }
            let f = self.field(k).ok_or_else(|| format!("{k}:not_found"))?;
            let value = f
                .default
                .parse_same_type(v)
                .ok_or_else(|| format!("{k}:type_error"))?;
            out.push((k.clone(), value.to_text()));
        }
        Ok(out)
    }

    /// `stored` with `changes` merged in, one entry per schema field in
    /// schema order (fields missing from `stored` get their defaults, fields
    /// no longer in the schema are dropped).
    pub fn merge(
        &self,
        stored: &[(String, String)],
        changes: &[(String, String)],
    ) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|f| {
                let v = changes
                    .iter()
                    .chain(stored.iter())
                    .find(|(k, _)| *k == f.field)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| f.default.to_text());
                (f.field.clone(), v)
            })
            .collect()
    }
}

/// The service's options: MongooseIM's `mod_muc_light` options with their
/// defaults (`None` is MongooseIM's `infinity`).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Occupants per room (`max_occupants`, default unlimited).
    pub max_occupants: Option<usize>,
    /// Rooms a user may occupy (`rooms_per_user`, default unlimited).
    pub rooms_per_user: Option<usize>,
    /// Blocking lists enabled (`blocking`, default true).
    pub blocking: bool,
    /// Members may change any configuration field (`all_can_configure`,
    /// default false; everyone may always change `subject` alone).
    pub all_can_configure: bool,
    /// Members may add members (`all_can_invite`, default false).
    pub all_can_invite: bool,
    /// No owners: the creator is a member too (`equal_occupants`, default false).
    pub equal_occupants: bool,
    /// More than one owner allowed (`allow_multiple_owners`, default false:
    /// making someone owner demotes the old owner).
    pub allow_multiple_owners: bool,
    /// When the last owner leaves, promote a member (`promote_on_last_owner_leave`,
    /// default true; false rejects the change).
    pub promote_on_last_owner_leave: bool,
    /// Rooms per disco#items page (`rooms_per_page`, default 10).
    pub rooms_per_page: Option<usize>,
    /// The room configuration fields (`config_schema`).
    pub config_schema: ConfigSchema,
    /// The disco#info identity name (MongooseIM: "MUC Light").
    pub identity_name: String,
    /// disco#info features added to `urn:xmpp:muclight:0` (the MAM
    /// namespaces when the sidecar archives rooms; MongooseIM's
    /// `disco_muc_features` hook).
    pub extra_features: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_occupants: None,
            rooms_per_user: None,
            blocking: true,
            all_can_configure: false,
            all_can_invite: false,
            equal_occupants: false,
            allow_multiple_owners: false,
            promote_on_last_owner_leave: true,
            rooms_per_page: Some(10),
            config_schema: ConfigSchema::default(),
            identity_name: "MUC Light".into(),
            extra_features: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_number_syntax() {
        let i = ConfigValue::Integer(0);
        assert_eq!(i.parse_same_type("+30"), Some(ConfigValue::Integer(30)));
        assert_eq!(i.parse_same_type("-7"), Some(ConfigValue::Integer(-7)));
        for bad in ["", "+", "3.0", " 3", "0x1", "99999999999999999999"] {
            assert_eq!(i.parse_same_type(bad), None, "{bad}");
        }
        let f = ConfigValue::Float(0.0);
        assert_eq!(f.parse_same_type("1.5e3"), Some(ConfigValue::Float(1500.0)));
        assert_eq!(f.parse_same_type("-0.25"), Some(ConfigValue::Float(-0.25)));
        for bad in ["1", "1.", ".5", "1e3", "inf", "NaN", "1.0e"] {
            assert_eq!(f.parse_same_type(bad), None, "{bad}");
        }
        assert_eq!(
            ConfigValue::Float(30.0).to_text(),
            "3.00000000000000000000e+01"
        );
        assert_eq!(
            ConfigValue::Float(-0.001).to_text(),
            "-1.00000000000000002082e-03"
        );
        let b = ConfigValue::Boolean(false);
        assert_eq!(b.parse_same_type("true"), Some(ConfigValue::Boolean(true)));
        assert_eq!(b.parse_same_type("True"), None);
    }

    #[test]
    fn schema_checks() {
        let s = ConfigSchema::default();
        let raw = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            s.check(&raw(&[
                ("subject", "b"),
                ("roomname", "x"),
                ("subject", "a")
            ])),
            Ok(raw(&[("roomname", "x"), ("subject", "b")]))
        );
        assert_eq!(
            s.check(&raw(&[("colour", "x")])),
            Err("colour:not_found".into())
        );
        let typed = ConfigSchema::new(vec![SchemaField {
            field: "display-lines".into(),
            default: ConfigValue::Integer(30),
            internal_key: "display_lines".into(),
        }])
        .unwrap();
        assert_eq!(
            typed.check(&raw(&[("display-lines", "x")])),
            Err("display-lines:type_error".into())
        );
        assert_eq!(
            typed.merge(&[], &raw(&[("display-lines", "+5")])),
            raw(&[("display-lines", "+5")])
        );
        assert_eq!(
            ConfigSchema::new(vec![SchemaField {
                field: "prev-version".into(),
                default: ConfigValue::Integer(1),
                internal_key: "pv".into(),
            }]),
            Err(SchemaError::ReservedField("prev-version".into()))
        );
        assert!(matches!(
            ConfigSchema::new(vec![SchemaField {
                field: "name".into(),
                default: ConfigValue::Integer(1),
                internal_key: "roomname".into(),
            }]),
            Err(SchemaError::ReservedType { .. })
        ));
    }
}
