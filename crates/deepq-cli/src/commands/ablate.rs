//! `deepq ablate`: switch off one ingredient of a preset at a time, train every variant over
//! several seeds, and report what each ingredient buys.

use std::fmt::Write as _;
use std::path::PathBuf;

use deepq::DqnConfig;
use deepq::nn::Loss;
use deepq::run_dir::{RunDir, write_atomic, write_json};
use serde::Serialize;

use crate::cli::{AblateArgs, parse_seeds};
use crate::commands::train::{SeedsSummary, train_parallel};
use crate::error::{CliResult, Failure};
use crate::settings::{self, Sources};

/// One ingredient that can be switched off: its variant's label and directory name, whether
/// the config uses it, and how to switch it off.
struct Ingredient {
    label: &'static str,
    slug: &'static str,
    used: fn(&DqnConfig) -> bool,
    switch_off: fn(&mut DqnConfig),
}

impl Ingredient {
    /// `base` with this ingredient switched off; loading expanded the `rainbow` shorthand
    /// into its components, so the others keep their settings.
    fn variant_of(&self, base: &DqnConfig) -> DqnConfig {
        let mut cfg = base.clone();
        (self.switch_off)(&mut cfg);
        cfg
    }
}

/// The ingredients, in the order the table lists them.
const INGREDIENTS: &[Ingredient] = &[
    Ingredient {
        label: "no replay (latest transition only)",
        slug: "no-replay",
        used: |c| c.replay.enabled,
        switch_off: |c| {
            c.replay.enabled = false;
            // Prioritizing needs a buffer to sample from.
            c.replay.prioritized = false;
        },
    },
    Ingredient {
        label: "no target network",
        slug: "no-target",
        used: |c| c.target.enabled,
        switch_off: |c| c.target.enabled = false,
    },
    Ingredient {
        label: "no double DQN",
        slug: "no-double",
        used: |c| c.dqn.double_q,
        switch_off: |c| c.dqn.double_q = false,
    },
    Ingredient {
        label: "no dueling head",
        slug: "no-dueling",
        used: |c| c.dqn.dueling,
        switch_off: |c| c.dqn.dueling = false,
    },
    Ingredient {
        label: "no prioritized replay (uniform)",
        slug: "no-per",
        used: |c| c.replay.prioritized,
        switch_off: |c| c.replay.prioritized = false,
    },
    Ingredient {
        label: "1-step returns",
        slug: "one-step",
        used: |c| c.replay.n_steps > 1,
        switch_off: |c| c.replay.n_steps = 1,
    },
    Ingredient {
        label: "no noisy nets (ε-greedy)",
        slug: "no-noisy",
        used: |c| c.dqn.noisy,
        switch_off: |c| c.dqn.noisy = false,
    },
    Ingredient {
        label: "no C51 (scalar Q, `loss` key)",
        slug: "no-c51",
        used: |c| c.dqn.atoms > 1,
        switch_off: |c| c.dqn.atoms = 1,
    },
    Ingredient {
        label: "MSE instead of Huber",
        slug: "mse",
        used: |c| c.dqn.loss == Loss::Huber && c.dqn.atoms == 1,
        switch_off: |c| c.dqn.loss = Loss::Mse,
    },
    Ingredient {
        label: "Huber instead of MSE",
        slug: "huber",
        used: |c| c.dqn.loss == Loss::Mse && c.dqn.atoms == 1,
        switch_off: |c| c.dqn.loss = Loss::Huber,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use deepq::Preset;

    /// Every variant of the Rainbow preset validates and differs from the preset in its
    /// component only.
    #[test]
    fn rainbow_variants_switch_one_component_off() {
        let base = Preset::find("cartpole-rainbow").unwrap().config().unwrap();
        let used: Vec<&str> = INGREDIENTS
            .iter()
            .filter(|i| (i.used)(&base))
            .map(|i| i.slug)
            .collect();
        assert_eq!(
            used,
            [
                "no-replay",
                "no-target",
                "no-double",
                "no-dueling",
                "no-per",
                "one-step",
                "no-noisy",
                "no-c51"
            ]
        );
        for ingredient in INGREDIENTS.iter().filter(|i| (i.used)(&base)) {
            let cfg = ingredient.variant_of(&base);
            cfg.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", ingredient.slug));
            assert!(!(ingredient.used)(&cfg), "{}", ingredient.slug);
        }
        // The plain preset keeps its ingredients.
        let plain = Preset::find("default").unwrap().config().unwrap();
        let used: Vec<&str> = INGREDIENTS
            .iter()
            .filter(|i| (i.used)(&plain))
            .map(|i| i.slug)
            .collect();
        assert_eq!(used, ["no-replay", "no-target", "no-double", "huber"]);
    }
}

/// `DIR/ablation.json`: every variant's aggregate over seeds.
#[derive(Serialize)]
struct Ablation {
    preset: String,
    env: String,
    seeds: Vec<u64>,
    variants: Vec<Variant>,
}

#[derive(Serialize)]
struct Variant {
    label: String,
    dir: String,
    summary: SeedsSummary,
}

/// Runs `deepq ablate`.
pub fn run(args: &AblateArgs) -> CliResult<()> {
    let (preset, base) = settings::resolve(&Sources {
        preset: Some(&args.preset),
        sets: &args.set,
        ..Sources::default()
    })?;
    let seeds = parse_seeds(&args.seeds).map_err(Failure::Usage)?;
    let jobs = crate::cli::jobs(args.jobs).map_err(Failure::Usage)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        PathBuf::from("runs").join(format!("ablate-{preset}-{stamp}"))
    });

    let mut variants: Vec<(String, &str, DqnConfig)> =
        vec![("full preset".into(), "full", base.clone())];
    for ingredient in INGREDIENTS.iter().filter(|i| (i.used)(&base)) {
        let cfg = ingredient.variant_of(&base);
        cfg.validate()?;
        variants.push((ingredient.label.into(), ingredient.slug, cfg));
    }
    let mut runs: Vec<(DqnConfig, PathBuf)> = Vec::new();
    for (_, slug, cfg) in &variants {
        for &seed in &seeds {
            let dir = out.join(slug).join(format!("seed-{seed}"));
            runs.push((
                {
                    let mut config = cfg.clone();
                    config.run.seed = seed;
                    config
                },
                dir,
            ));
        }
    }
    let stop = crate::commands::train::stop_on_ctrl_c();
    let mut summaries = train_parallel(&runs, &preset, jobs, args.quiet, false, &stop)?.into_iter();

    let mut report = Ablation {
        preset: preset.clone(),
        env: base.run.env.clone(),
        seeds: seeds.clone(),
        variants: Vec::new(),
    };
    for (label, slug, cfg) in &variants {
        let runs: Vec<_> = summaries.by_ref().take(seeds.len()).collect();
        let summary = SeedsSummary::of(&cfg.run.env, &preset, runs);
        write_json(&out.join(slug).join("summary.json"), &summary)?;
        report.variants.push(Variant {
            label: label.clone(),
            dir: slug.to_string(),
            summary,
        });
    }
    write_json(&out.join("ablation.json"), &report)?;
    let table = markdown_table(&report);
    write_atomic(&out.join("ablation.md"), table.as_bytes())?;

    let dirs: Vec<(String, Vec<RunDir>)> = report
        .variants
        .iter()
        .map(|v| {
            let runs = seeds
                .iter()
                .map(|s| RunDir::at(&out.join(&v.dir).join(format!("seed-{s}"))))
                .collect();
            (v.label.clone(), runs)
        })
        .collect();
    let groups: Vec<(&str, &[RunDir])> = dirs
        .iter()
        .map(|(l, r)| (l.as_str(), r.as_slice()))
        .collect();
    let threshold = report.variants[0].summary.runs[0].reward_threshold;
    deepq_plots::draw_seeds(
        &out,
        &groups,
        base.run.rolling_window,
        threshold,
        deepq_plots::Format::Png,
    )?;

    print!("{table}");
    println!("\nrun directory: {}", out.display());
    Ok(())
}

/// The results as a Markdown table.
fn markdown_table(report: &Ablation) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Ablation of preset `{}` on {} over {} seeds ({}..={}).\n",
        report.preset,
        report.env,
        report.seeds.len(),
        report.seeds[0],
        report.seeds[report.seeds.len() - 1]
    );
    let _ = writeln!(
        t,
        "| variant | final eval mean | IQM | 95% CI | solve rate | wall time (median) | steps to solve (median) |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|");
    for v in &report.variants {
        let s = &v.summary;
        let eval =
            |f: fn(&deepq::stats::Aggregate) -> String| s.eval_mean.as_ref().map_or("-".into(), f);
        let steps = s
            .solved_at_step
            .as_ref()
            .map_or("-".into(), |a| format!("{:.0}", a.median));
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {:.0}% | {:.2} s | {} |",
            v.label,
            eval(|a| format!("{:.1}", a.mean)),
            eval(|a| format!("{:.1}", a.iqm)),
            eval(|a| format!("[{:.1}, {:.1}]", a.ci95[0], a.ci95[1])),
            s.solve_rate * 100.0,
            s.wall_s.median,
            steps
        );
    }
    t
}
