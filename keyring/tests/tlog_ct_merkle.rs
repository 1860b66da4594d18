//! The Merkle math against an independent RFC 6962 implementation, `ct-merkle`: on a few
//! hundred trees of random sizes, both compute the same roots and the same inclusion and
//! consistency proofs, and each verifies the other's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof};
use hallmark_keyring::tlog::merkle::{
    self, MemoryTree, consistency_proof, inclusion_proof, verify_consistency, verify_inclusion,
};
use sha2::Sha256;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn roots_and_proofs_agree_with_ct_merkle_on_random_trees() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut theirs: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
    let mut ours = MemoryTree::new();
    let mut checked = 0;
    for _ in 0..300 {
        // Grow by a random amount, sometimes zero, up to a few thousand leaves.
        for _ in 0..rng.below(12) {
            let entry: Vec<u8> = (0..rng.below(40)).map(|i| (i * 31) as u8).collect();
            ours.push(&entry);
            theirs.push(entry);
        }
        let n = ours.size();
        if n == 0 {
            continue;
        }
        let root = ours.root(n).unwrap();
        let their_root = theirs.root();
        assert_eq!(
            their_root.as_bytes().as_slice(),
            root.as_slice(),
            "root of {n}"
        );

        let index = rng.below(n);
        let proof = inclusion_proof(&mut ours, index, n).unwrap();
        let their_proof = theirs.prove_inclusion(index as usize);
        assert_eq!(
            their_proof.as_bytes(),
            proof.concat().as_slice(),
            "inclusion {index} in {n}"
        );
        let leaf = merkle::leaf_hash(theirs.get(index as usize).unwrap());
        verify_inclusion(&leaf, index, n, &proof, &root).unwrap();
        let mine = InclusionProof::<Sha256>::from_bytes(proof.concat());
        their_root
            .verify_inclusion(theirs.get(index as usize).unwrap(), index, &mine)
            .unwrap();

        if n >= 2 {
            let old = 1 + rng.below(n - 1);
            let proof = consistency_proof(&mut ours, old, n).unwrap();
            let their_proof = theirs.prove_consistency((n - old) as usize);
            assert_eq!(
                their_proof.as_bytes(),
                proof.concat().as_slice(),
                "consistency {old} to {n}"
            );
            let old_root = ours.root(old).unwrap();
            verify_consistency(old, n, &proof, &old_root, &root).unwrap();
            let their_old = ct_merkle::RootHash::<Sha256>::new(old_root.into(), old);
            let mine = ConsistencyProof::<Sha256>::try_from_bytes(proof.concat()).unwrap();
            their_root.verify_consistency(&their_old, &mine).unwrap();
        }
        checked += 1;
    }
    assert!(checked >= 290, "only {checked} trees checked");
}
