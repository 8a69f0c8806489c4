//! What a version's metadata makes it depend on: its requirements read as the resolver
//! reads them (markers for the target, extras, legacy text salvaged, the project's own
//! extras at its own version), and the ranges a package asks of a project carried over to
//! the extras it asks of it.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep508_rs::ExtraName;
use pubgrub::Ranges;

use super::versions::{salvage, specifier_set, Set};
use super::{Edge, Node, Solver, Version};
use crate::metadata::{normalize_name, parse_requirement};

impl Solver<'_> {
    /// The dependencies `requirements` add for `extras` (an empty slice: the base ones;
    /// otherwise only those the extras switch on).
    pub(super) fn add_requirements(
        &self,
        from: (&Node, &Version),
        owner: &str,
        requirements: &[String],
        extra: Option<&str>,
        deps: &mut BTreeMap<Node, Set>,
        edges: &mut Vec<Edge>,
    ) {
        let extras: Vec<ExtraName> = extra
            .and_then(|e| ExtraName::from_str(e).ok())
            .into_iter()
            .collect();
        for text in requirements {
            let req = match parse_requirement(text) {
                Ok(r) => r,
                Err(e) => match salvage(text) {
                    // pip's and uv's parsers still take the project from legacy text such
                    // as `pytz (>dev)`; so does the lock, without the unusable version.
                    Some(r) => {
                        self.warn(format!(
                            "{owner} {}: requirement `{text}` is not PEP 508 ({e}); using `{r}` without its version constraint",
                            from.1
                        ));
                        r
                    }
                    None => {
                        self.warn(format!(
                            "{owner} {}: ignoring requirement `{text}` ({e})",
                            from.1
                        ));
                        continue;
                    }
                },
            };
            let wanted = req.marker.evaluate(&self.markers, &extras);
            let base = req.marker.evaluate(&self.markers, &[]);
            if !wanted || (extra.is_some() && base) {
                continue;
            }
            let set = match specifier_set(&req) {
                Ok(s) => s,
                Err(e) => {
                    self.warn(format!(
                        "{owner} {}: ignoring requirement `{text}` ({e})",
                        from.1
                    ));
                    continue;
                }
            };
            let name = normalize_name(req.name.as_ref());
            let marker = req.marker.clone().simplify_extras(&extras);
            let mut targets = Vec::new();
            if name != owner || !req.extras.is_empty() {
                if name != owner {
                    targets.push(Node::Base(name.clone()));
                }
                for e in &req.extras {
                    targets.push(Node::Extra(name.clone(), normalize_name(e.as_ref())));
                }
            }
            for node in targets {
                // An extra of the project itself is at the same version.
                let set = if name == owner {
                    Ranges::singleton(from.1.clone())
                } else {
                    self.constrained(&name, set.clone())
                };
                let slot = deps.entry(node.clone()).or_insert_with(Ranges::full);
                *slot = slot.intersection(&set);
                edges.push(Edge {
                    to: node,
                    marker: marker.clone(),
                    origin: None,
                });
            }
        }
    }
}

/// Narrows every extra in `deps` to the versions its project may have: an extra is its
/// project at the same version, so a range required of `kombu` by the same package (in
/// `deps`, or in `implied`: what the package itself requires, when `deps` are one of its
/// extras' dependencies) holds for `kombu[redis]` too. The constraint is implied, so the
/// solutions do not change; but PubGrub learns it as a range instead of one version of the
/// extra at a time (celery 5.7.0 requires kombu>=5.7.0, so celery[redis] 5.7.0 may only
/// have kombu[redis]>=5.7.0: when that fails it moves on to another celery at once,
/// instead of trying every kombu[redis] down to the first release).
pub(super) fn tie_extras_to_bases(deps: &mut BTreeMap<Node, Set>, implied: &BTreeMap<Node, Set>) {
    let bases: BTreeMap<String, Set> = deps
        .iter()
        .chain(implied.iter())
        .filter_map(|(node, set)| match node {
            Node::Base(n) => Some((n.clone(), set.clone())),
            _ => None,
        })
        .fold(BTreeMap::new(), |mut acc, (n, set)| {
            let slot = acc.entry(n).or_insert_with(Ranges::full);
            *slot = slot.intersection(&set);
            acc
        });
    for (node, set) in deps.iter_mut() {
        if let Node::Extra(name, _) = node {
            if let Some(base) = bases.get(name) {
                *set = set.intersection(base);
            }
        }
    }
}
