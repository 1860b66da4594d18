//! Look-alike names: the edit distance behind typosquat warnings and the registry's
//! name-similarity check.
//!
//! The distance is the optimal-string-alignment distance: insertions, deletions,
//! substitutions and transpositions of two adjacent characters each count one edit, so
//! `org.acme` → `org.acmee` (insertion), `org.acne` (substitution) and `org.amce`
//! (transposition) are all one edit away.

/// The largest distance at which two names count as look-alikes.
pub const LOOKALIKE_DISTANCE: usize = 2;

/// The edit distance between `a` and `b` if it is at most `max`, else `None` (`strsim`'s
/// optimal string alignment, over characters). Names that differ in length by more than `max`
/// are refused before any distance is computed: the registry compares a new name with every
/// name it holds.
pub fn bounded_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    if a.chars().count().abs_diff(b.chars().count()) > max {
        return None;
    }
    let d = strsim::osa_distance(a, b);
    (d <= max).then_some(d)
}

/// Whether `a` and `b` differ but are at most [`LOOKALIKE_DISTANCE`] edits apart; returns the
/// distance.
pub fn lookalike(a: &str, b: &str) -> Option<usize> {
    match bounded_distance(a, b, LOOKALIKE_DISTANCE) {
        Some(0) | None => None,
        Some(d) => Some(d),
    }
}

/// Whether two dotted names sit in look-alike namespaces: at the first label where they
/// differ (or at the second label, when they differ in the first), their leading labels up to
/// that one are one or two edits apart. `org.acmee.util` and `org.acme.tool` differ first in
/// the second label, and `org.acmee` is one edit from `org.acme`: look-alikes, although the
/// whole names are far apart. Returns the two namespaces and the distance.
pub fn lookalike_namespace(a: &str, b: &str) -> Option<(String, String, usize)> {
    let la: Vec<&str> = a.split('.').collect();
    let lb: Vec<&str> = b.split('.').collect();
    let first = la.iter().zip(&lb).position(|(x, y)| x != y)?;
    let depth = (first + 1).max(2);
    if la.len() < depth || lb.len() < depth {
        return None;
    }
    let (na, nb) = (la[..depth].join("."), lb[..depth].join("."));
    lookalike(&na, &nb).map(|d| (na, nb, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(a: &str, b: &str) -> usize {
        bounded_distance(a, b, 100).unwrap()
    }

    #[test]
    fn distances() {
        assert_eq!(full("", ""), 0);
        assert_eq!(full("abc", ""), 3);
        assert_eq!(full("kitten", "sitting"), 3);
        assert_eq!(full("org.acme", "org.acmee"), 1);
        assert_eq!(full("org.acme", "org.acne"), 1);
        assert_eq!(full("org.acme", "org.amce"), 1);
        assert_eq!(full("org.acme", "org.acmecorp"), 4);
        assert_eq!(full("ca", "abc"), 3);
    }

    #[test]
    fn bounded_agrees_with_full() {
        let words = [
            "org.acme",
            "org.acmee",
            "org.acm",
            "rog.acme",
            "org.acme.tool",
            "org.xyz",
            "",
            "o",
        ];
        for a in words {
            for b in words {
                let d = full(a, b);
                for max in 0..4 {
                    assert_eq!(
                        bounded_distance(a, b, max),
                        (d <= max).then_some(d),
                        "{a} {b} {max}"
                    );
                }
            }
        }
    }

    #[test]
    fn lookalike_namespaces() {
        let ns = |a, b| lookalike_namespace(a, b).map(|(x, y, d)| format!("{x} {y} {d}"));
        assert_eq!(
            ns("org.acmee.util", "org.acme.tool").as_deref(),
            Some("org.acmee org.acme 1")
        );
        assert_eq!(
            ns("com.acme.tool", "co.acme.other").as_deref(),
            Some("com.acme co.acme 1")
        );
        // Same namespace, other names: not a namespace look-alike.
        assert_eq!(ns("org.acme.util", "org.acme.tool"), None);
        // Short first labels alone do not count: `de.foo` and `dk.bar` are far apart.
        assert_eq!(ns("de.foo.tool", "dk.bar.tool"), None);
        assert_eq!(ns("org.acme.tool", "org.other.tool"), None);
        assert_eq!(ns("org.acme", "org.acme"), None);
    }

    #[test]
    fn lookalikes() {
        assert_eq!(lookalike("org.acmee.tool", "org.acme.tool"), Some(1));
        assert_eq!(lookalike("org.acme.tool", "org.acme.tool"), None);
        assert_eq!(lookalike("org.acme.tool", "org.other.tool"), None);
    }
}
