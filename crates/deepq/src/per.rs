//! Proportional prioritized experience replay (Schaul et al. 2016), as OpenAI Baselines'
//! `PrioritizedReplayBuffer` does it: a sum tree and a min tree over the replay ring's slots.
//!
//! Slot `i` holds `pᵢ^α`, where `pᵢ = |δᵢ| + ε` is the latest priority of the transition stored
//! there (a new transition enters with the largest priority seen so far). A batch is drawn by
//! stratified sampling: the total mass is cut into `batch_size` equal segments and one point is
//! drawn uniformly in each, so slot `i` is drawn with probability `P(i) = pᵢ^α / Σ pⱼ^α`. The
//! importance weight `(N·P(i))^−β` is divided by its largest possible value over the buffer,
//! `(N·min P)^−β`, read from the min tree.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A complete binary tree over `leaves` slots (a power of two) whose inner nodes hold the sum
/// (or minimum) of their children; node 1 is the root and node `leaves + i` is slot `i`.
#[derive(Clone, Debug, PartialEq)]
struct Tree {
    leaves: usize,
    sum: Vec<f64>,
    min: Vec<f64>,
}

impl Tree {
    fn new(leaves: usize) -> Self {
        debug_assert!(leaves.is_power_of_two());
        Tree {
            leaves,
            sum: vec![0.0; 2 * leaves],
            min: vec![f64::INFINITY; 2 * leaves],
        }
    }

    /// A tree with the given slot values, every inner node computed bottom-up: the same values
    /// as setting the slots one by one, since a node is always `left + right` (or `min`) of its
    /// children's current values.
    fn from_slots(leaves: usize, slots: &[f64]) -> Self {
        let mut t = Tree::new(leaves);
        for (i, &v) in slots.iter().enumerate() {
            t.sum[leaves + i] = v;
            t.min[leaves + i] = v;
        }
        for node in (1..leaves).rev() {
            t.sum[node] = t.sum[2 * node] + t.sum[2 * node + 1];
            t.min[node] = t.min[2 * node].min(t.min[2 * node + 1]);
        }
        t
    }

    fn set(&mut self, slot: usize, value: f64) {
        let mut node = self.leaves + slot;
        self.sum[node] = value;
        self.min[node] = value;
        while node > 1 {
            node /= 2;
            self.sum[node] = self.sum[2 * node] + self.sum[2 * node + 1];
            self.min[node] = self.min[2 * node].min(self.min[2 * node + 1]);
        }
    }

    fn total(&self) -> f64 {
        self.sum[1]
    }

    fn min(&self) -> f64 {
        self.min[1]
    }

    fn get(&self, slot: usize) -> f64 {
        self.sum[self.leaves + slot]
    }

    /// The slot where the running sum of slot values first exceeds `mass`: descend left while
    /// `mass` is below the left subtree's sum, else subtract it and go right (never into a
    /// subtree of zero mass, which rounding could otherwise reach).
    fn find_prefix_sum(&self, mut mass: f64) -> usize {
        let mut node = 1;
        while node < self.leaves {
            let left = 2 * node;
            if mass < self.sum[left] || self.sum[left + 1] <= 0.0 {
                node = left;
            } else {
                mass -= self.sum[left];
                node = left + 1;
            }
        }
        node - self.leaves
    }
}

/// Priorities over the slots of a replay buffer of `capacity` transitions.
///
/// The trees grow with the buffer (doubling, up to the capacity rounded up to a power of two),
/// so a large `buffer_size` costs memory only once it is used. Saved as the slot values alone;
/// the trees are rebuilt on loading, to the same bits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredPriorities", into = "StoredPriorities")]
pub struct Priorities {
    alpha: f64,
    eps: f64,
    capacity: usize,
    /// Slots in use (the buffer's length).
    len: usize,
    /// The largest priority `|δ| + ε` seen so far (Baselines starts it at 1).
    max_priority: f64,
    tree: Tree,
}

#[derive(Serialize, Deserialize)]
struct StoredPriorities {
    alpha: f64,
    eps: f64,
    capacity: usize,
    max_priority: f64,
    leaves: usize,
    slots: Vec<f64>,
}

impl From<Priorities> for StoredPriorities {
    fn from(p: Priorities) -> Self {
        StoredPriorities {
            alpha: p.alpha,
            eps: p.eps,
            capacity: p.capacity,
            max_priority: p.max_priority,
            leaves: p.tree.leaves,
            slots: p.tree.sum[p.tree.leaves..p.tree.leaves + p.len].to_vec(),
        }
    }
}

impl TryFrom<StoredPriorities> for Priorities {
    type Error = &'static str;

    fn try_from(s: StoredPriorities) -> Result<Self, Self::Error> {
        let ok = s.capacity > 0
            && s.leaves.is_power_of_two()
            && s.leaves <= s.capacity.next_power_of_two()
            && s.slots.len() <= s.leaves
            && s.slots.len() <= s.capacity
            && s.slots.iter().all(|v| v.is_finite() && *v >= 0.0);
        if !ok {
            return Err("replay priorities do not fit their buffer");
        }
        Ok(Priorities {
            alpha: s.alpha,
            eps: s.eps,
            capacity: s.capacity,
            len: s.slots.len(),
            max_priority: s.max_priority,
            tree: Tree::from_slots(s.leaves, &s.slots),
        })
    }
}

/// Slots of a fresh tree: enough for small buffers at once, doubling from there.
const INITIAL_LEAVES: usize = 1024;

impl Priorities {
    /// Empty priorities for a buffer of `capacity` transitions, with exponent `alpha` and
    /// priority floor `eps`.
    pub fn new(capacity: usize, alpha: f64, eps: f64) -> Self {
        assert!(capacity > 0, "replay capacity must be positive");
        Priorities {
            alpha,
            eps,
            capacity,
            len: 0,
            max_priority: 1.0,
            tree: Tree::new(INITIAL_LEAVES.min(capacity.next_power_of_two())),
        }
    }

    /// Slots in use.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot is in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sum of `pᵢ^α` over the slots in use.
    pub fn total(&self) -> f64 {
        self.tree.total()
    }

    /// The smallest `pᵢ^α` over the slots in use (∞ when empty).
    pub fn min(&self) -> f64 {
        self.tree.min()
    }

    /// `pᵢ^α` of slot `i`.
    pub fn get(&self, slot: usize) -> f64 {
        self.tree.get(slot)
    }

    /// The largest priority seen so far (what new transitions get).
    pub fn max_priority(&self) -> f64 {
        self.max_priority
    }

    /// A transition was written to `slot`: it enters with the largest priority seen so far.
    pub fn on_push(&mut self, slot: usize) {
        assert!(
            slot < self.capacity && slot <= self.len,
            "slot {slot} out of order"
        );
        if slot == self.len {
            self.len += 1;
            if self.len > self.tree.leaves {
                let slots = self.tree.sum[self.tree.leaves..].to_vec();
                self.tree = Tree::from_slots(2 * self.tree.leaves, &slots);
            }
        }
        self.tree.set(slot, self.max_priority.powf(self.alpha));
    }

    /// New priorities `|δᵢ| + ε` for the transitions in `slots` (the later one wins for a slot
    /// drawn twice); `abs_errors` are the |TD errors| (or C51 cross-entropies).
    pub fn update(&mut self, slots: &[usize], abs_errors: impl IntoIterator<Item = f64>) {
        for (&slot, err) in slots.iter().zip(abs_errors) {
            assert!(slot < self.len, "slot {slot} not in use");
            let p = err.abs() + self.eps;
            // A NaN error would poison the tree; the trainer stops on a non-finite loss anyway.
            let p = if p.is_finite() { p } else { self.max_priority };
            self.tree.set(slot, p.powf(self.alpha));
            self.max_priority = self.max_priority.max(p);
        }
    }

    /// Draws `batch_size` slots by stratified proportional sampling into `out`.
    ///
    /// # Panics
    /// If no slot is in use.
    pub fn sample(&self, rng: &mut impl Rng, batch_size: usize, out: &mut Vec<usize>) {
        assert!(self.len > 0, "cannot sample from an empty replay buffer");
        out.clear();
        let segment = self.tree.total() / batch_size as f64;
        for i in 0..batch_size {
            let mass = rng.random::<f64>() * segment + i as f64 * segment;
            out.push(self.tree.find_prefix_sum(mass).min(self.len - 1));
        }
    }

    /// The importance weights of `slots` for exponent `beta`, divided by the largest weight
    /// any slot in use could have: `(N·P(i))^−β / (N·min_j P(j))^−β`, each in (0, 1].
    pub fn weights<'a>(&'a self, slots: &'a [usize], beta: f64) -> impl Iterator<Item = f64> + 'a {
        let total = self.tree.total();
        let n = self.len as f64;
        let max_weight = (self.tree.min() / total * n).powf(-beta);
        slots
            .iter()
            .map(move |&s| (self.tree.get(s) / total * n).powf(-beta) / max_weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn check_invariants(t: &Tree) {
        for node in 1..t.leaves {
            assert_eq!(t.sum[node], t.sum[2 * node] + t.sum[2 * node + 1]);
            assert_eq!(t.min[node], t.min[2 * node].min(t.min[2 * node + 1]));
        }
    }

    proptest! {
        /// After any sequence of pushes and updates: every inner node is the sum (min) of its
        /// children, the root's sum matches the slots' sum, and a rebuilt tree (as after a
        /// checkpoint) is identical.
        #[test]
        fn sums_and_minima_hold_after_any_updates(
            capacity in 1usize..3000,
            ops in proptest::collection::vec((0usize..5000, 0.0f64..10.0), 1..400),
            alpha in 0.0f64..1.5,
        ) {
            let mut p = Priorities::new(capacity, alpha, 1e-6);
            let mut next = 0;
            let mut reference = vec![0.0f64; capacity];
            for (k, (a, err)) in ops.into_iter().enumerate() {
                if k % 3 != 2 || p.is_empty() {
                    let slot = if p.len() < capacity { p.len() } else { next };
                    p.on_push(slot);
                    next = (slot + 1) % capacity;
                    reference[slot] = p.max_priority().powf(alpha);
                } else {
                    let slot = a % p.len();
                    p.update(&[slot], [err]);
                    reference[slot] = (err + 1e-6).powf(alpha);
                }
            }
            check_invariants(&p.tree);
            let expected: f64 = reference[..p.len()].iter().sum();
            prop_assert!((p.total() - expected).abs() <= 1e-9 * expected.max(1.0));
            let min = reference[..p.len()].iter().copied().fold(f64::INFINITY, f64::min);
            prop_assert_eq!(p.min(), min);
            for (i, r) in reference[..p.len()].iter().enumerate() {
                prop_assert_eq!(p.get(i), *r);
            }
            let bytes = postcard::to_stdvec(&p).unwrap();
            let back: Priorities = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back, p);
        }

        /// Prefix-sum search lands on the slot whose cumulative interval holds the mass.
        #[test]
        fn prefix_sum_search_finds_the_interval(
            values in proptest::collection::vec(0.0f64..5.0, 1..300),
            u in 0.0f64..1.0,
        ) {
            let leaves = values.len().next_power_of_two();
            let t = Tree::from_slots(leaves, &values);
            prop_assume!(t.total() > 0.0);
            let mass = u * t.total();
            let slot = t.find_prefix_sum(mass);
            prop_assert!(slot < values.len());
            prop_assert!(values[slot] > 0.0);
            let before: f64 = values[..slot].iter().sum();
            prop_assert!(before <= mass * (1.0 + 1e-12) + 1e-12);
            prop_assert!(mass <= before + values[slot] + 1e-9);
        }

        /// Sampling frequencies follow the priorities, for any set of priorities.
        #[test]
        fn sampling_proportions_follow_priorities(
            errors in proptest::collection::vec(0.0f64..4.0, 2..12),
            seed: u64,
        ) {
            let mut p = Priorities::new(errors.len(), 1.0, 0.1);
            for i in 0..errors.len() {
                p.on_push(i);
            }
            let slots: Vec<usize> = (0..errors.len()).collect();
            p.update(&slots, errors.iter().copied());
            let mut rng = Pcg64::seed_from_u64(seed);
            let mut counts = vec![0usize; errors.len()];
            let mut out = Vec::new();
            let draws = 4000;
            for _ in 0..draws / 8 {
                p.sample(&mut rng, 8, &mut out);
                for &i in &out {
                    counts[i] += 1;
                }
            }
            let total: f64 = errors.iter().map(|e| e + 0.1).sum();
            for (i, &c) in counts.iter().enumerate() {
                let expected = (errors[i] + 0.1) / total * draws as f64;
                // Stratification only lowers the variance below the binomial one.
                let sd = (expected * (1.0 - expected / draws as f64)).sqrt();
                prop_assert!((c as f64 - expected).abs() <= 5.0 * sd + 2.0, "{:?} {:?}", counts, errors);
            }
        }
    }

    /// A fixed-seed statistical test: 200,000 draws from ten slots with priorities 1..=10
    /// (α = 0.6) match P(i) = pᵢ^α / Σ pⱼ^α by a chi-squared test, and the importance weights
    /// are (N·P(i))^−β normalised by the largest.
    #[test]
    fn sampling_frequencies_match_priorities() {
        let n = 10;
        let mut p = Priorities::new(16, 0.6, 1e-6);
        for i in 0..n {
            p.on_push(i);
        }
        let slots: Vec<usize> = (0..n).collect();
        p.update(&slots, (1..=n).map(|k| k as f64 - 1e-6));
        let probs: Vec<f64> = (1..=n).map(|k| (k as f64).powf(0.6)).collect();
        let total: f64 = probs.iter().sum();
        let mut rng = Pcg64::seed_from_u64(2024);
        let mut counts = vec![0u64; n];
        let mut out = Vec::new();
        let draws = 200_000;
        for _ in 0..draws / 32 {
            p.sample(&mut rng, 32, &mut out);
            for &i in &out {
                counts[i] += 1;
            }
        }
        let chi2: f64 = counts
            .iter()
            .zip(&probs)
            .map(|(&c, &q)| {
                let e = q / total * draws as f64;
                (c as f64 - e).powi(2) / e
            })
            .sum();
        // 9 degrees of freedom: the 99.9% quantile is 27.9.
        assert!(chi2 < 27.9, "chi² = {chi2}, counts {counts:?}");

        let w: Vec<f64> = p.weights(&[0, 4, 9], 0.4).collect();
        let weight = |k: f64| (k.powf(0.6) / total * n as f64).powf(-0.4);
        for (got, k) in w.iter().zip([1.0, 5.0, 10.0]) {
            let expected = weight(k) / weight(1.0);
            assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
        }
        assert!((w[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn new_transitions_enter_with_the_largest_priority() {
        let mut p = Priorities::new(4, 0.5, 0.01);
        p.on_push(0);
        assert_eq!(p.get(0), 1.0);
        p.update(&[0], [8.99]);
        p.on_push(1);
        assert!((p.get(1) - 3.0).abs() < 1e-12);
        p.update(&[0], [0.0]);
        assert!((p.max_priority() - 9.0).abs() < 1e-12);
        // Overwriting a slot of the full ring.
        p.on_push(2);
        p.on_push(3);
        p.on_push(0);
        assert!((p.get(0) - 3.0).abs() < 1e-12);
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn trees_grow_with_the_buffer() {
        let mut p = Priorities::new(5000, 1.0, 1e-6);
        for i in 0..3000 {
            p.on_push(i);
            if i % 7 == 0 {
                p.update(&[i / 2], [i as f64]);
            }
        }
        assert_eq!(p.tree.leaves, 4096);
        check_invariants(&p.tree);
    }
}
