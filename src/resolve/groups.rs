//! PEP 735 dependency groups: `[dependency-groups]` in `pyproject.toml`.
//!
//! A group is a list of requirement strings and `{include-group = "other"}` tables. Group
//! names are compared normalized (like project names); an include of a group that does not
//! exist, or a cycle of includes, is an error (PEP 735 says tools SHOULD report cycles),
//! and so is any other value: a lock never guesses what a group meant.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::metadata::normalize_name;

/// Deepest chain of includes followed.
const MAX_DEPTH: usize = 64;

/// One entry of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Requirement(String),
    Include(String),
}

/// The `[dependency-groups]` table of one project, by normalized name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyGroups {
    groups: BTreeMap<String, Vec<Item>>,
}

impl DependencyGroups {
    /// Reads the `dependency-groups` value of a parsed `pyproject.toml` (`file` names it
    /// in errors).
    pub fn from_toml(value: Option<&toml::Value>, file: &str) -> Result<Self> {
        let bad = |why: String| Error::Usage {
            detail: format!("{file}: [dependency-groups] {why}"),
        };
        let Some(value) = value else {
            return Ok(Self::default());
        };
        let table = value
            .as_table()
            .ok_or_else(|| bad("must be a table".to_string()))?;
        let mut groups = BTreeMap::new();
        for (name, items) in table {
            let key = normalize_name(name);
            let list = items
                .as_array()
                .ok_or_else(|| bad(format!("`{name}` must be a list")))?;
            let mut parsed = Vec::new();
            for item in list {
                parsed.push(match item {
                    toml::Value::String(s) => Item::Requirement(s.clone()),
                    toml::Value::Table(t) if t.len() == 1 => match t.get("include-group") {
                        Some(toml::Value::String(g)) => Item::Include(g.clone()),
                        _ => {
                            return Err(bad(format!(
                                "`{name}`: a table must be {{include-group = \"NAME\"}}"
                            )))
                        }
                    },
                    _ => {
                        return Err(bad(format!(
                        "`{name}`: entries are requirement strings or {{include-group = \"NAME\"}}"
                    )))
                    }
                });
            }
            if groups.insert(key, parsed).is_some() {
                return Err(bad(format!(
                    "two groups normalize to `{}`",
                    normalize_name(name)
                )));
            }
        }
        Ok(Self { groups })
    }

    /// The group names (normalized), sorted.
    pub fn names(&self) -> Vec<String> {
        self.groups.keys().cloned().collect()
    }

    /// Whether the project has the group `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.groups.contains_key(&normalize_name(name))
    }

    /// The requirement strings of group `name` with its includes expanded, in order.
    pub fn requirements(&self, name: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = Vec::new();
        self.expand(&normalize_name(name), &mut stack, &mut out)?;
        Ok(out)
    }

    fn expand(&self, name: &str, stack: &mut Vec<String>, out: &mut Vec<String>) -> Result<()> {
        if stack.iter().any(|s| s == name) {
            stack.push(name.to_string());
            return Err(Error::Usage {
                detail: format!(
                    "dependency groups include each other in a cycle: {}",
                    stack.join(" -> ")
                ),
            });
        }
        if stack.len() >= MAX_DEPTH {
            return Err(Error::Usage {
                detail: format!("dependency group includes nest deeper than {MAX_DEPTH}"),
            });
        }
        let items = self.groups.get(name).ok_or_else(|| Error::Usage {
            detail: match stack.last() {
                Some(from) => {
                    format!("dependency group `{from}` includes `{name}`, which does not exist")
                }
                None => format!(
                    "no dependency group `{name}` (the project has: {})",
                    if self.groups.is_empty() {
                        "none".to_string()
                    } else {
                        self.names().join(", ")
                    }
                ),
            },
        })?;
        stack.push(name.to_string());
        for item in items {
            match item {
                Item::Requirement(r) => out.push(r.clone()),
                Item::Include(g) => self.expand(&normalize_name(g), stack, out)?,
            }
        }
        stack.pop();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(text: &str) -> Result<DependencyGroups> {
        let doc: toml::Table = toml::from_str(text).unwrap();
        DependencyGroups::from_toml(doc.get("dependency-groups"), "pyproject.toml")
    }

    #[test]
    fn includes_expand_in_order() {
        let g = groups(
            r#"
[dependency-groups]
Test = ["pytest>=8", {include-group = "typing"}]
typing = ["mypy"]
dev = [{include-group = "test"}, "ruff"]
"#,
        )
        .unwrap();
        assert_eq!(
            g.requirements("dev").unwrap(),
            ["pytest>=8", "mypy", "ruff"]
        );
        assert_eq!(g.names(), ["dev", "test", "typing"]);
        assert!(g.contains("TEST"));
        let err = g.requirements("docs").unwrap_err().to_string();
        assert!(err.contains("dev, test, typing"), "{err}");
    }

    #[test]
    fn cycles_and_bad_entries_are_refused() {
        let g = groups(
            "[dependency-groups]\na = [{include-group = 'b'}]\nb = [{include-group = 'a'}]\n",
        )
        .unwrap();
        let err = g.requirements("a").unwrap_err().to_string();
        assert!(err.contains("cycle: a -> b -> a"), "{err}");
        let g = groups("[dependency-groups]\na = [{include-group = 'nope'}]\n").unwrap();
        assert!(g
            .requirements("a")
            .unwrap_err()
            .to_string()
            .contains("`nope`"));
        assert!(groups("[dependency-groups]\na = 'x'\n").is_err());
        assert!(groups("[dependency-groups]\na = [1]\n").is_err());
        assert!(groups("[dependency-groups]\na = [{include-group = 'b', x = 1}]\n").is_err());
    }
}
