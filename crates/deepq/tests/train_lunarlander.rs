//! End-to-end: the `lunarlander-fast` preset trains LunarLander-v3 to a greedy 100-episode
//! mean ≥ 200, stopping early at its 230 margin.

use deepq::{Preset, train};

#[test]
fn lunarlander_fast_preset_lands() {
    // Seed 5 stops after about 95,000 steps (roughly 10 s); every seed of 0..20 passes.
    let cfg = {
        let mut config = Preset::find("lunarlander-fast").unwrap().config().unwrap();
        config.run.seed = 5;
        config
    };
    let s = train(&cfg, &mut ()).unwrap().summary;
    let eval = s.eval.as_ref().expect("an uninterrupted run evaluates");
    assert_eq!(eval.episodes, 100);
    assert!(
        eval.mean >= 200.0,
        "greedy mean {} after {} steps",
        eval.mean,
        s.env_steps
    );
    assert!(s.solved);
    assert!(
        s.env_steps < cfg.run.total_timesteps,
        "the stop criterion was never met"
    );
}
