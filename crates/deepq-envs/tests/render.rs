//! Text and RGB frames.

use deepq_envs::{Env, EnvSpec, EnvVisitor, KwValue, Kwargs, env_ids, make};

/// Renders the reset state and the states along a short episode.
struct Frames {
    steps: usize,
}

impl EnvVisitor for Frames {
    type Output = (EnvSpec, Vec<String>, Vec<deepq_envs::RgbFrame>);
    fn visit<E: Env + Clone + 'static>(self, mut env: E, spec: EnvSpec) -> Self::Output {
        env.reset(Some(5));
        let (mut texts, mut rgbs) = (vec![env.render_text()], vec![env.render_rgb()]);
        for t in 0..self.steps {
            let step = env.step((t / 3) % env.n_actions());
            texts.push(env.render_text());
            if t % 10 == 0 {
                rgbs.push(env.render_rgb());
            }
            if step.done() {
                env.reset(None);
            }
        }
        (spec, texts, rgbs)
    }
}

#[test]
fn text_frames_have_a_fixed_number_of_lines() {
    for id in env_ids() {
        let (_, texts, _) = make(id, &Kwargs::new())
            .unwrap()
            .visit(Frames { steps: 60 });
        let lines = texts[0].lines().count();
        assert!(lines > 1, "{id}: {lines} lines");
        for text in &texts {
            assert!(!text.trim().is_empty(), "{id}: empty frame");
            assert_eq!(text.split('\n').count(), lines, "{id}: frame\n{text}");
        }
    }
}

#[test]
fn frozen_lake_text_marks_the_agent() {
    let (_, texts, _) = make("FrozenLake-v1", &Kwargs::new())
        .unwrap()
        .visit(Frames { steps: 0 });
    assert_eq!(
        texts[0],
        "\n[S] F  F  F \n F  H  F  H \n F  F  F  H \n H  F  F  G "
    );
}

#[test]
fn rgb_frames_have_gymnasium_sizes_and_content() {
    let sizes = [
        ("CartPole-v0", 600, 400),
        ("CartPole-v1", 600, 400),
        ("Acrobot-v1", 500, 500),
        ("MountainCar-v0", 600, 400),
        ("FrozenLake-v1", 256, 256),
        ("FrozenLake8x8-v1", 512, 512),
        ("Taxi-v4", 536, 456),
        ("CliffWalking-v1", 768, 256),
        ("CliffWalkingSlippery-v1", 768, 256),
        ("LunarLander-v3", 600, 400),
    ];
    for (id, width, height) in sizes {
        let (spec, _, rgbs) = make(id, &Kwargs::new())
            .unwrap()
            .visit(Frames { steps: 30 });
        assert_eq!(spec.id, id);
        for frame in &rgbs {
            assert_eq!((frame.width, frame.height), (width, height), "{id}");
            assert_eq!(frame.data.len(), (width * height * 3) as usize, "{id}");
            let first = &frame.data[..3];
            assert!(
                frame.data.chunks_exact(3).any(|px| px != first),
                "{id}: a single colour"
            );
        }
    }
    let custom = Kwargs::from([("desc".to_owned(), KwValue::from(vec!["SFFFF", "FFFHG"]))]);
    let (_, _, rgbs) = make("FrozenLake-v1", &custom)
        .unwrap()
        .visit(Frames { steps: 1 });
    assert_eq!((rgbs[0].width, rgbs[0].height), (5 * 64, 2 * 64));
}

#[test]
fn cartpole_frame_shows_the_cart_where_it_is() {
    let (_, _, rgbs) = make("CartPole-v1", &Kwargs::new())
        .unwrap()
        .visit(Frames { steps: 0 });
    let frame = &rgbs[0];
    // The cart (black, 50x30 px) is centred horizontally (|x| <= 0.05 after a
    // reset is 6 px) and vertically 100 px above the bottom edge; the corners
    // of the frame are background.
    assert_eq!(frame.pixel(300, 400 - 100 + 5), [0, 0, 0]);
    assert_eq!(frame.pixel(0, 0), [255, 255, 255]);
    assert_eq!(frame.pixel(599, 399), [255, 255, 255]);
}
