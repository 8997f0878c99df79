//! `database = "prod"`, `["a", "b"]` or `"*"` (every Odoo database the connection can see),
//! with `exclude = ["test_*", "demo"]` globs: which databases a job backs up. Discovery of
//! `"*"` happens at each run ([`crate::job::databases`]); this is the setting and the pure
//! filtering.

use serde::{Deserialize, Serialize};

/// The databases a job backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSelection {
    /// One database (`database = "prod"`).
    One(String),
    /// These databases, in this order (`database = ["a", "b"]`).
    List(Vec<String>),
    /// Every Odoo database the connection can see (`database = "*"`).
    All,
}

impl DatabaseSelection {
    /// The configured names (`None` for `"*"`, found at each run).
    pub fn fixed(&self) -> Option<Vec<String>> {
        match self {
            DatabaseSelection::One(d) => Some(vec![d.clone()]),
            DatabaseSelection::List(l) => Some(l.clone()),
            DatabaseSelection::All => None,
        }
    }

    /// The database name of a job resolved to one database (the engine works on such a
    /// job, see [`super::Config::for_database`]); for a list or `"*"`, the setting as
    /// written (`a, b` or `*`), which is no database name an archive can carry.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Whether the setting is empty or names an empty database.
    pub fn is_empty(&self) -> bool {
        match self {
            DatabaseSelection::One(d) => d.trim().is_empty(),
            DatabaseSelection::List(l) => l.is_empty() || l.iter().any(|d| d.trim().is_empty()),
            DatabaseSelection::All => false,
        }
    }
}

impl std::fmt::Display for DatabaseSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseSelection::One(d) => f.write_str(d),
            DatabaseSelection::List(l) => f.write_str(&l.join(", ")),
            DatabaseSelection::All => f.write_str("*"),
        }
    }
}

impl PartialEq<str> for DatabaseSelection {
    fn eq(&self, other: &str) -> bool {
        matches!(self, DatabaseSelection::One(d) if d == other)
    }
}

impl Serialize for DatabaseSelection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DatabaseSelection::One(d) => s.serialize_str(d),
            DatabaseSelection::List(l) => l.serialize(s),
            DatabaseSelection::All => s.serialize_str("*"),
        }
    }
}

impl<'de> Deserialize<'de> for DatabaseSelection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            List(Vec<String>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a database name, a list of names, or \"*\"")
        })? {
            Raw::One(s) if s == "*" => Ok(DatabaseSelection::All),
            Raw::One(s) => Ok(DatabaseSelection::One(s)),
            Raw::List(l) if l.iter().any(|d| d == "*") => Err(serde::de::Error::custom(
                "\"*\" stands alone: write database = \"*\", not inside a list",
            )),
            Raw::List(l) => Ok(DatabaseSelection::List(l)),
        }
    }
}

/// Whether `name` matches the glob `pattern` (`*` any run of characters, `?` one
/// character, everything else literal).
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `names` without those an `exclude` glob matches, order kept.
pub fn without_excluded(names: Vec<String>, exclude: &[String]) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| !exclude.iter().any(|g| glob_matches(g, n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        for (p, n, m) in [
            ("test_*", "test_a", true),
            ("test_*", "test_", true),
            ("test_*", "atest_a", false),
            ("demo", "demo", true),
            ("demo", "demo2", false),
            ("*_old", "a_b_old", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(glob_matches(p, n), m, "{p} {n}");
        }
    }

    #[test]
    fn excluded_databases_are_left_out_in_order() {
        let names = ["prod", "test_1", "demo", "shop"]
            .map(String::from)
            .to_vec();
        let exclude = ["test_*", "demo"].map(String::from);
        assert_eq!(without_excluded(names, &exclude), vec!["prod", "shop"]);
    }

    #[test]
    fn a_string_a_list_and_a_star_are_read() {
        let read = |v: serde_json::Value| serde_json::from_value::<DatabaseSelection>(v);
        assert_eq!(
            read(serde_json::json!("prod")).unwrap(),
            DatabaseSelection::One("prod".into())
        );
        assert_eq!(
            read(serde_json::json!("*")).unwrap(),
            DatabaseSelection::All
        );
        assert_eq!(
            read(serde_json::json!(["a", "b"])).unwrap(),
            DatabaseSelection::List(vec!["a".into(), "b".into()])
        );
        assert!(read(serde_json::json!(["a", "*"])).is_err());
        assert!(read(serde_json::json!(3)).is_err());
    }
}
