//! Observation encodings: every observation space reaches the learner as one
//! flat f32 vector of `observation_space().flat_dim()` values: discrete
//! observations one-hot, boxes of any shape flattened in row-major order.

use deepq_envs::{
    Env, EnvSpec, EnvVisitor, Kwargs, Observation, RgbFrame, Space, Step, TimeLimit, VecEnv, make,
};

/// What a learner does with an observation: allocate `flat_dim` values and
/// let the observation fill them.
fn flatten<O: Observation>(space: &Space, obs: &O) -> Vec<f32> {
    // NaN first, so a value the encoding forgot to write shows up.
    let mut flat = vec![f32::NAN; space.flat_dim()];
    obs.write_flat(&mut flat);
    flat
}

/// Collects the flat reset observation of any registered environment.
struct FlatReset;

impl EnvVisitor for FlatReset {
    type Output = (Space, Vec<f32>);
    fn visit<E: Env + Clone + 'static>(self, mut env: E, _spec: EnvSpec) -> Self::Output {
        let obs = env.reset(Some(1));
        let space = env.observation_space();
        let flat = flatten(&space, &obs);
        (space, flat)
    }
}

#[test]
fn discrete_observations_are_one_hot() {
    for id in ["FrozenLake-v1", "Taxi-v4", "CliffWalking-v1"] {
        let (space, flat) = make(id, &Kwargs::new()).unwrap().visit(FlatReset);
        let n = space.n().expect("discrete");
        assert_eq!(flat.len(), n, "{id}");
        assert_eq!(flat.iter().filter(|&&x| x == 1.0).count(), 1, "{id}");
        assert_eq!(flat.iter().filter(|&&x| x == 0.0).count(), n - 1, "{id}");
        assert!(space.contains_flat(&flat), "{id}");
    }
    let space = Space::Discrete { n: 500 };
    let flat = flatten(&space, &499usize);
    assert_eq!(flat[499], 1.0);
}

#[test]
fn one_dimensional_boxes_are_copied() {
    let (space, flat) = make("CartPole-v1", &Kwargs::new())
        .unwrap()
        .visit(FlatReset);
    assert_eq!(space.flat_dim(), 4);
    assert!(flat.iter().all(|x| x.abs() <= 0.05));
    assert!(space.contains_flat(&flat));
}

/// A 2x3 grid of readings, e.g. two sensors with three channels each:
/// observation `[[f32; 3]; 2]`, space `Box` of shape `[2, 3]`.
#[derive(Clone, Debug)]
struct Grid {
    t: f32,
}

impl Env for Grid {
    type Obs = [[f32; 3]; 2];

    fn observation_space(&self) -> Space {
        Space::Box {
            low: vec![-1.0, -2.0, -3.0, -4.0, -5.0, -6.0],
            high: vec![100.0; 6],
            shape: vec![2, 3],
        }
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }

    fn reset(&mut self, _seed: Option<u64>) -> Self::Obs {
        self.t = 0.0;
        self.observation()
    }

    fn step(&mut self, action: usize) -> Step<Self::Obs> {
        self.t += 1.0 + action as f32;
        Step {
            obs: self.observation(),
            reward: 1.0,
            terminated: self.t >= 5.0,
            truncated: false,
        }
    }

    fn reset_to_state(&mut self, state: &[f64]) -> Self::Obs {
        self.t = state[0] as f32;
        self.observation()
    }

    fn observation(&self) -> Self::Obs {
        // Element [r][c] = 10 r + c + t: its flat position is readable from the value.
        std::array::from_fn(|r| std::array::from_fn(|c| 10.0 * r as f32 + c as f32 + self.t))
    }

    fn state(&self) -> Vec<f64> {
        vec![f64::from(self.t)]
    }

    fn render_text(&self) -> String {
        format!("t = {}", self.t)
    }

    fn render_rgb(&self) -> RgbFrame {
        RgbFrame {
            width: 1,
            height: 1,
            data: vec![0; 3],
        }
    }
}

#[test]
fn multi_dimensional_boxes_flatten_row_major() {
    let mut env = Grid { t: 0.0 };
    let space = env.observation_space();
    assert_eq!(space.flat_dim(), 6);
    assert_eq!(
        space.to_string(),
        "Box([-1, -2, -3, -4, -5, -6]..100, (2, 3))"
    );
    let flat = flatten(&space, &env.reset(None));
    assert_eq!(flat, [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
    assert!(space.contains_flat(&flat));
    // The bounds are per flat element in the same order.
    let mut below = flat.clone();
    below[5] = -7.0;
    assert!(!space.contains_flat(&below));
    below[5] = -6.0;
    assert!(space.contains_flat(&below));
}

#[test]
#[should_panic(expected = "a 2x3 observation needs a flat vector of width 6")]
fn a_wrong_width_is_a_bug() {
    [[0.0f32; 3]; 2].write_flat(&mut [0.0; 5]);
}

#[test]
fn multi_dimensional_boxes_go_through_the_training_path() {
    // A vector env and the time limit are generic over the observation type,
    // so a 2-D box env trains like any other.
    let mut envs = VecEnv::new(vec![TimeLimit::new(Grid { t: 0.0 }, 3); 2]);
    envs.reset(Some(0));
    let space = Space::Box {
        low: vec![-10.0; 6],
        high: vec![100.0; 6],
        shape: vec![2, 3],
    };
    let step = envs.step(&[1, 0]);
    let flat: Vec<Vec<f32>> = step.obs.iter().map(|o| flatten(&space, o)).collect();
    assert_eq!(flat[0], [2.0, 3.0, 4.0, 12.0, 13.0, 14.0]);
    assert_eq!(flat[1], [1.0, 2.0, 3.0, 11.0, 12.0, 13.0]);
}
