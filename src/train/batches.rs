//! The order in which training rows are visited: seeded epoch permutations laid end to end, batch s being
//! positions [s·B, (s+1)·B) of that stream (a batch may straddle two epochs). A pure function of
//! (seed, rows, step), so a run resumed from a checkpoint at step s sees exactly the batches it would have.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug)]
pub struct BatchOrder {
    pub rows: usize,
    pub batch: usize,
    pub seed: u64,
    /// `false`: no shuffling, every batch is the first B rows (the `step` command).
    pub shuffle: bool,
}

impl BatchOrder {
    /// Row indexes of epoch `e`: a Fisher–Yates shuffle from ChaCha8 stream `e` of the seed.
    pub fn epoch(&self, e: u64) -> Vec<u32> {
        let mut perm: Vec<u32> = (0..self.rows as u32).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(e);
        perm.shuffle(&mut rng);
        perm
    }

    /// The indexes of `steps` consecutive batches starting at batch `first_step`, concatenated.
    pub fn indices(&self, first_step: u64, steps: usize) -> Vec<u32> {
        if !self.shuffle {
            return (0..steps).flat_map(|_| 0..self.batch as u32).collect();
        }
        let (n, b) = (self.rows as u64, self.batch as u64);
        let start = first_step * b;
        let end = start + steps as u64 * b;
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut e = start / n;
        while e * n < end {
            let perm = self.epoch(e);
            let lo = start.max(e * n) - e * n;
            let hi = end.min((e + 1) * n) - e * n;
            out.extend_from_slice(&perm[lo as usize..hi as usize]);
            e += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_each_epoch_once_and_do_not_depend_on_where_a_run_starts() {
        let order = BatchOrder { rows: 10, batch: 4, seed: 7, shuffle: true };
        let all = order.indices(0, 10); // 40 positions = 4 epochs
        for e in 0..4 {
            let mut epoch = all[e * 10..(e + 1) * 10].to_vec();
            epoch.sort();
            assert_eq!(epoch, (0..10).collect::<Vec<u32>>());
        }
        assert_eq!(order.indices(3, 4), all[12..28].to_vec(), "resuming at step 3 sees the same batches");
        assert_ne!(all[..10], all[10..20], "epochs are shuffled differently");
        let other = BatchOrder { seed: 8, ..order.clone() };
        assert_ne!(other.indices(0, 10), all);
        let fixed = BatchOrder { shuffle: false, ..order };
        assert_eq!(fixed.indices(5, 2), vec![0, 1, 2, 3, 0, 1, 2, 3]);
    }
}
