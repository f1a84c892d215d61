//! The public API: names, shapes, action sets, the wrapper's sticky-action and after-the-end
//! behaviour (expected values from minatar 1.0.15), and serde checkpoints.

use deepq_minatar::{Action, Environment, Game};
use proptest::prelude::*;

/// `np.packbits(state.reshape(-1)).hex()`.
fn pack_hex(cells: &[bool]) -> String {
    cells
        .chunks(8)
        .map(|c| {
            let byte = c
                .iter()
                .enumerate()
                .fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << (7 - i)));
            format!("{byte:02x}")
        })
        .collect()
}

#[test]
fn names_and_shapes() {
    let expected = [
        (Game::Asterix, "asterix", "Asterix", 4, &[0, 1, 2, 3, 4][..]),
        (Game::Breakout, "breakout", "Breakout", 4, &[0, 1, 3][..]),
        (Game::Freeway, "freeway", "Freeway", 7, &[0, 2, 4][..]),
        (
            Game::Seaquest,
            "seaquest",
            "Seaquest",
            10,
            &[0, 1, 2, 3, 4, 5][..],
        ),
        (
            Game::SpaceInvaders,
            "space_invaders",
            "SpaceInvaders",
            6,
            &[0, 1, 3, 5][..],
        ),
    ];
    assert_eq!(Game::ALL.len(), expected.len());
    for (game, name, display, channels, minimal) in expected {
        assert_eq!(game.name(), name);
        assert_eq!(game.display_name(), display);
        assert_eq!(game.to_string(), display);
        assert_eq!(Game::from_name(name), Some(game));
        assert_eq!(display.parse::<Game>(), Ok(game));
        assert_eq!(game.n_channels(), channels);
        assert_eq!(game.channel_names().len(), channels);
        assert_eq!(game.minimal_action_set(), minimal);
        let env = Environment::new(game, 0.1, true, 0);
        assert_eq!(env.game(), game);
        assert_eq!(env.state_shape(), [10, 10, channels]);
        assert_eq!(env.state().len(), 100 * channels);
        assert_eq!(env.num_actions(), 6);
        assert_eq!(env.minimal_action_set(), minimal);
        assert!(!env.game_over());
    }
    assert_eq!(Game::from_name("space-invaders"), Some(Game::SpaceInvaders));
    assert!("pong".parse::<Game>().is_err());
    assert_eq!(Game::Seaquest.channel_names()[7], "oxygen_guage");
    for (i, a) in Action::ALL.into_iter().enumerate() {
        assert_eq!(a.index(), i);
        assert_eq!(Action::from_index(i), Some(a));
    }
    assert_eq!(Action::from_index(6), None);
}

/// With probability 1 every action becomes the previous one, which starts at 0.
#[test]
fn sticky_probability_one_repeats_the_initial_noop() {
    let mut env = Environment::new(Game::Breakout, 1.0, true, 3);
    for _ in 0..3 {
        assert_eq!(env.act(3), (0.0, false));
    }
    assert_eq!(env.last_action(), 0);
}

/// After the end, `act` returns `(0, true)` but still draws its sticky-action number, so the
/// next reset continues further along the stream. Freeway, seed 5, defaults, always "up":
/// ends on step 2,501; three more actions; the reset state as the reference gives it.
#[test]
fn acting_after_the_end_still_draws() {
    let mut env = Environment::new(Game::Freeway, 0.1, true, 5);
    let mut steps = 0;
    loop {
        steps += 1;
        if env.act(2).1 {
            break;
        }
    }
    assert_eq!(steps, 2501);
    assert!(env.game_over());
    for a in [4, 2, 0] {
        assert_eq!(env.act(a), (0.0, true));
    }
    env.reset();
    assert!(!env.game_over());
    assert_eq!(
        pack_hex(&env.state()),
        "0000000000000000010000000000000000840000000000000000500000000000000004404000000000\
         0000010100000000000000040400000000000000100000000000000008400800000000000000000000\
         200000000000"
    );
}

#[test]
#[should_panic(expected = "not in 0..6")]
fn actions_beyond_five_panic() {
    Environment::new(Game::Asterix, 0.1, true, 0).act(6);
}

#[test]
#[should_panic(expected = "between 0 and 2**32 - 1")]
fn seeds_beyond_u32_panic() {
    Environment::new(Game::Asterix, 0.1, true, 1 << 32);
}

/// `seed` then `reset` restarts the stream: the same as a new environment (with sticky
/// probability 0, so the kept previous action does not matter).
#[test]
fn reseeding_restarts_the_stream() {
    for game in Game::ALL {
        let mut a = Environment::new(game, 0.0, true, 7);
        for t in 0..50 {
            if a.act(t % 6).1 {
                a.reset();
            }
        }
        a.seed(7);
        a.reset();
        let mut b = Environment::new(game, 0.0, true, 7);
        assert_eq!(a.state(), b.state());
        for t in 0..200 {
            let x = a.act(t % 6);
            assert_eq!(x, b.act(t % 6));
            assert_eq!(a.state(), b.state());
            if x.1 {
                a.reset();
                b.reset();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A serde checkpoint at any step resumes the identical trajectory, and channel 0 (the
    /// player's own piece) always holds exactly one cell.
    #[test]
    fn checkpoints_resume_identically(
        game in prop::sample::select(Game::ALL.to_vec()),
        seed in 0u64..1000,
        sticky in prop::sample::select(vec![0.0, 0.1, 0.5]),
        ramping in any::<bool>(),
        actions in prop::collection::vec(0usize..6, 1..400),
        split in 0usize..400,
    ) {
        let mut env = Environment::new(game, sticky, ramping, seed);
        let c = game.n_channels();
        let split = split.min(actions.len());
        let mut resumed = None;
        for (t, &a) in actions.iter().enumerate() {
            if t == split {
                let json = serde_json::to_string(&env).unwrap();
                resumed = Some(serde_json::from_str::<Environment>(&json).unwrap());
            }
            let out = env.act(a);
            if let Some(r) = resumed.as_mut() {
                prop_assert_eq!(r.act(a), out);
                prop_assert_eq!(r.state(), env.state());
            }
            let players = env.state().iter().step_by(c).filter(|&&b| b).count();
            prop_assert_eq!(players, 1);
            if out.1 {
                env.reset();
                if let Some(r) = resumed.as_mut() {
                    r.reset();
                }
            }
        }
    }
}
