//! RFC 6962 / RFC 9162 Merkle trees: hashes, tree hashes, inclusion and consistency proofs.
//!
//! Proofs are generated from any [`HashSource`] — something that knows the hash of each
//! complete, aligned subtree (tiles, a database, memory) — and verified with the algorithms of
//! RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency).

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, an interior node or a tree's root.
pub type Hash = [u8; 32];

/// The hash of the empty tree: SHA-256 of nothing.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The longest proof any tree of at most 2^63 leaves needs.
pub const MAX_PROOF_HASHES: usize = 64;

/// The hash of a leaf: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Why a proof did not verify, or could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not in the tree.
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("the old tree ({old} leaves) is larger than the new one ({new} leaves)")]
    OldLargerThanNew {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("the proof has {got} hashes; one for these tree sizes has {expected}")]
    WrongLength {
        /// Hashes the proof has.
        got: usize,
        /// Hashes it must have.
        expected: usize,
    },
    /// The proof is well formed but does not lead to the given root: it is a proof for another
    /// tree, for another leaf, or the log lies.
    #[error("the proof does not lead to the expected root hash (a proof for another tree)")]
    RootMismatch,
    /// The same size with two different roots: two different trees.
    #[error("two different root hashes for the same tree size {size}")]
    DifferentRoots {
        /// The tree size.
        size: u64,
    },
}

/// A source of the hashes of complete subtrees: `node(level, index)` is the hash of leaves
/// `index·2^level .. (index+1)·2^level`. Callers only ask for subtrees inside the tree they
/// work on. Implemented by [`super::TileHashes`] (tiles, verified against a checkpoint) and by
/// [`MemoryTree`].
pub trait HashSource {
    /// The source's error (I/O, a lying server, …).
    type Error: From<ProofError>;
    /// The hash of the complete subtree at `level`, `index`.
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// The largest power of two smaller than `n` (`n ≥ 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The hash of leaves `lo .. hi` (`hi > lo`), split as RFC 6962 splits them.
pub fn range_hash<S: HashSource + ?Sized>(src: &mut S, lo: u64, hi: u64) -> Result<Hash, S::Error> {
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        // lo is a multiple of n, so the subtree is aligned: one stored node.
        return src.node(n.trailing_zeros() as u8, lo >> n.trailing_zeros());
    }
    let k = split_point(n);
    let left = range_hash(src, lo, lo + k)?;
    let right = range_hash(src, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root hash of a tree of `size` leaves ([`EMPTY_ROOT`] for none).
pub fn tree_hash<S: HashSource + ?Sized>(src: &mut S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    range_hash(src, 0, size)
}

/// The root hash of these leaf hashes, computed in memory.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// How many hashes an inclusion proof of leaf `index` in a tree of `size` has.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // The leaf's path climbs one level per bit of (size-1) above where index and size-1 agree,
    // skipping the levels where the right edge has no sibling.
    let (mut m, mut n, mut len) = (index, size, 0);
    while n > 1 {
        let k = split_point(n);
        if m < k {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
        len += 1;
    }
    Ok(len)
}

/// The inclusion proof of leaf `index` in a tree of `size` (RFC 9162 §2.1.3.1), leaf first.
pub fn inclusion_proof<S: HashSource + ?Sized>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    inclusion_proof_len(index, size)?;
    let mut proof = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    // Walk from the root down, collecting siblings; reversed at the end (leaf first).
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            proof.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(src, lo, lo + k)?);
            lo += k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Verifies that `leaf` (a [`leaf_hash`]) is leaf `index` of the tree of `size` with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let expected = inclusion_proof_len(index, size)?;
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// How many hashes a consistency proof from `old` to `new` leaves has.
pub fn consistency_proof_len(old: u64, new: u64) -> Result<usize, ProofError> {
    if old > new {
        return Err(ProofError::OldLargerThanNew { old, new });
    }
    if old == 0 || old == new {
        return Ok(0);
    }
    let (mut m, mut n, mut complete, mut len) = (old, new, true, 0);
    while m != n {
        let k = split_point(n);
        if m <= k {
            n = k;
        } else {
            m -= k;
            n -= k;
            complete = false;
        }
        len += 1;
    }
    Ok(len + usize::from(!complete))
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves
/// (RFC 9162 §2.1.4.1). Empty when `old` is 0 or equals `new`.
pub fn consistency_proof<S: HashSource + ?Sized>(
    src: &mut S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, S::Error> {
    consistency_proof_len(old, new)?;
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    // SUBPROOF(m, D[lo:hi], complete), unrolled from the root down.
    let (mut lo, mut hi, mut m, mut complete) = (0u64, new, old, true);
    while m != hi - lo {
        let k = split_point(hi - lo);
        if m <= k {
            proof.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(src, lo, lo + k)?);
            lo += k;
            m -= k;
            complete = false;
        }
    }
    if !complete {
        proof.push(range_hash(src, lo, hi)?);
    }
    proof.reverse();
    Ok(proof)
}

/// Verifies that the tree of `old` leaves with `old_root` is a prefix of the tree of `new`
/// leaves with `new_root` (RFC 9162 §2.1.4.2). An old size of 0 is consistent with every tree
/// (the proof is empty); equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    let expected = consistency_proof_len(old, new)?;
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    if old == 0 {
        return Ok(());
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::DifferentRoots { size: old })
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if fr != *old_root || sr != *new_root || snode != 0 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A tree held in memory as its leaf hashes: a [`HashSource`] for tests, small logs and
/// cross-checks. Interior nodes are computed on demand.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    leaves: Vec<Hash>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        MemoryTree::default()
    }

    /// Appends an entry (hashed with [`leaf_hash`]).
    pub fn push(&mut self, entry: &[u8]) {
        self.leaves.push(leaf_hash(entry));
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// The root hash of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, ProofError> {
        let n = usize::try_from(size).unwrap_or(usize::MAX);
        match self.leaves.get(..n) {
            Some(leaves) => Ok(root_of(leaves)),
            None => Err(ProofError::IndexOutOfRange {
                index: size,
                size: self.size(),
            }),
        }
    }
}

impl HashSource for MemoryTree {
    type Error = ProofError;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let width = 1u64 << level;
        let lo = index << level;
        let size = self.size();
        if lo.checked_add(width).is_none_or(|hi| hi > size) {
            return Err(ProofError::IndexOutOfRange { index: lo, size });
        }
        // Bounded by the checks above, so the casts do not truncate.
        Ok(root_of(&self.leaves[lo as usize..(lo + width) as usize]))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(format!("entry {i}").as_bytes());
        }
        t
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let h: Hash = Sha256::digest(b"").into();
        assert_eq!(h, EMPTY_ROOT);
        assert_eq!(tree_hash(&mut MemoryTree::new(), 0).unwrap(), EMPTY_ROOT);
    }

    #[test]
    fn every_inclusion_and_consistency_proof_up_to_70_leaves_verifies() {
        let mut t = tree(70);
        for n in 1..=70u64 {
            let root = t.root(n).unwrap();
            assert_eq!(tree_hash(&mut t, n).unwrap(), root);
            for i in 0..n {
                let proof = inclusion_proof(&mut t, i, n).unwrap();
                let leaf = t.leaves[i as usize];
                verify_inclusion(&leaf, i, n, &proof, &root).unwrap();
                // Another leaf, another root, another index: refused.
                let other = leaf_hash(b"not in the tree");
                assert_eq!(
                    verify_inclusion(&other, i, n, &proof, &root),
                    Err(ProofError::RootMismatch)
                );
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert_eq!(
                        verify_inclusion(&leaf, i, n, &bad, &root),
                        Err(ProofError::RootMismatch)
                    );
                }
            }
            for m in 0..=n {
                let proof = consistency_proof(&mut t, m, n).unwrap();
                let old_root = t.root(m).unwrap();
                verify_consistency(m, n, &proof, &old_root, &root).unwrap();
                if m > 0 && m < n {
                    let mut wrong = old_root;
                    wrong[5] ^= 0x80;
                    assert_eq!(
                        verify_consistency(m, n, &proof, &wrong, &root),
                        Err(ProofError::RootMismatch)
                    );
                    assert_eq!(
                        verify_consistency(m, n, &proof, &old_root, &wrong),
                        Err(ProofError::RootMismatch)
                    );
                }
            }
        }
    }

    #[test]
    fn typed_errors() {
        let mut t = tree(5);
        let root = t.root(5).unwrap();
        let proof = inclusion_proof(&mut t, 2, 5).unwrap();
        assert_eq!(proof.len(), 3);
        assert_eq!(
            inclusion_proof(&mut t, 5, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            verify_inclusion(&t.leaves[2], 2, 5, &proof[..2], &root),
            Err(ProofError::WrongLength {
                got: 2,
                expected: 3
            })
        );
        assert_eq!(
            verify_consistency(4, 3, &[], &root, &root),
            Err(ProofError::OldLargerThanNew { old: 4, new: 3 })
        );
        assert_eq!(
            verify_consistency(3, 3, &[], &EMPTY_ROOT, &root),
            Err(ProofError::DifferentRoots { size: 3 })
        );
        // A proof for a tree of 5 leaves checked against a tree of 6: another tree.
        let p = consistency_proof(&mut t, 3, 5).unwrap();
        let six = tree(6);
        let root6 = six.root(6).unwrap();
        assert!(verify_consistency(3, 6, &p, &t.root(3).unwrap(), &root6).is_err());
    }

    #[test]
    fn rfc6962_known_answer() {
        // The root of the 8-leaf tree of the Certificate Transparency test vectors
        // (leaves "", 00, 10, 2021, 3031, 40414243, 5051525354555657, 606162636465666768696a6b6c6d6e6f).
        let leaves: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
        assert_eq!(
            crate::encoding::hex_encode(&root_of(&hashes)),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }
}
