//! Look-alike names: the edit distance behind typosquat warnings and the registry's
//! name-similarity check.
//!
//! The distance is the optimal-string-alignment distance: insertions, deletions,
//! substitutions and transpositions of two adjacent characters each count one edit, so
//! `org.acme` → `org.acmee` (insertion), `org.acne` (substitution) and `org.amce`
//! (transposition) are all one edit away.

/// The largest distance at which two names count as look-alikes.
pub const LOOKALIKE_DISTANCE: usize = 2;

/// The edit distance between `a` and `b` if it is at most `max`, else `None`. Runs in
/// O(len × (2·max + 1)).
pub fn bounded_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let inf = max + 1;
    let width = b.len() + 1;
    // Three rows of the dynamic programme: i-2, i-1 and i.
    let mut rows = vec![vec![inf; width]; 3];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j.min(inf);
    }
    for i in 1..=a.len() {
        let (cur, prev, prev2) = (i % 3, (i + 2) % 3, (i + 1) % 3);
        let lo = i.saturating_sub(max).max(1);
        let hi = (i + max).min(b.len());
        rows[cur].fill(inf);
        rows[cur][0] = i.min(inf);
        let mut best = rows[cur][0];
        for j in lo..=hi {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[prev][j - 1] + cost)
                .min(rows[prev][j] + 1)
                .min(rows[cur][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[prev2][j - 2] + 1);
            }
            rows[cur][j] = d.min(inf);
            best = best.min(rows[cur][j]);
        }
        if best > max {
            return None;
        }
    }
    let d = rows[a.len() % 3][b.len()];
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
