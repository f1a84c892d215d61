//! The training observer behind `deepq train`: the run's logs (the library's
//! [`RunLog`]), the progress bar, TensorBoard files and a stop flag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deepq::eval::EvalProgress;
use deepq::nn::Precision;
use deepq::run_dir::RunDir;
use deepq::run_log::RunLog;
use deepq::train::{EpisodeRecord, EvalRecord, Observer, Progress, UpdateRecord};
use indicatif::{HumanCount, ProgressBar, ProgressState, ProgressStyle};

use crate::error::{CliResult, Failure};
use deepq::tensorboard::EventWriter;

/// Writes a run's logs as training goes and drives its progress bar.
pub struct RunObserver {
    log: RunLog,
    progress: Option<ProgressBar>,
    tensorboard: Option<EventWriter>,
    /// Step of the last `time/steps_per_s` point: the progress report that ends a run can
    /// repeat the step of the one before it, and one point per step is what TensorBoard plots.
    last_speed_step: Option<u64>,
    stop: Arc<AtomicBool>,
    /// The first TensorBoard write error; callbacks cannot return it, so it is reported at
    /// the end.
    error: Option<Failure>,
}

impl RunObserver {
    /// Creates the logs in `run` (and TensorBoard events in `run/tensorboard/` when
    /// asked), or continues them from `resume_step`; `progress` shows a bar, `stop` ends
    /// training when set.
    pub fn new(
        run: &RunDir,
        progress: Option<ProgressBar>,
        tensorboard: bool,
        resume_step: Option<u64>,
        stop: Arc<AtomicBool>,
    ) -> CliResult<Self> {
        Ok(RunObserver {
            log: RunLog::new(run, resume_step)?,
            progress,
            tensorboard: tensorboard
                .then(|| EventWriter::create(&run.tensorboard()))
                .transpose()?,
            last_speed_step: None,
            stop,
            error: None,
        })
    }

    /// Closes the progress bar, flushes TensorBoard and returns the first write error, if any.
    pub fn finish(mut self) -> CliResult<()> {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        if let Some(tb) = &mut self.tensorboard {
            let flushed = tb.flush();
            self.keep(flushed);
        }
        self.log.finish()?;
        self.error.map_or(Ok(()), Err)
    }

    /// Step of the last checkpoint written in this session.
    pub fn last_checkpoint(&self) -> Option<u64> {
        self.log.last_checkpoint()
    }

    /// Writes scalars to TensorBoard, if enabled.
    fn scalars(&mut self, step: u64, values: &[(&str, f64)]) {
        if let Some(tb) = &mut self.tensorboard {
            let result = values
                .iter()
                .try_for_each(|&(tag, v)| tb.scalar(tag, step, v));
            self.keep(result);
        }
    }

    fn keep(&mut self, result: Result<(), impl Into<Failure>>) {
        if let (Err(e), None) = (result, &self.error) {
            self.error = Some(e.into());
        }
    }
}

/// A progress bar over the run's step budget; a bf16 run's bar names the kernel of its
/// matrix products first.
pub fn progress_bar(total_steps: u64, precision: Precision) -> ProgressBar {
    let bar = ProgressBar::new(total_steps);
    if !precision.is_f32() {
        bar.set_prefix(format!("{} ", precision.matmul_path()));
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix}{bar:30} {pos}/{len} steps  {rate}  {msg}")
            .expect("valid progress template")
            // indicatif's own {per_sec} keeps four decimals ("7,265.1473/s").
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&rate_text(state.per_sec()));
                },
            ),
    );
    bar
}

/// A step rate in whole steps, e.g. "7,265/s".
fn rate_text(steps_per_s: f64) -> String {
    format!("{}/s", HumanCount(steps_per_s.round() as u64))
}

impl Observer for RunObserver {
    fn on_episode(&mut self, r: &EpisodeRecord) {
        self.log.on_episode(r);
        self.scalars(
            r.step,
            &[
                ("episode/return", r.ret),
                ("episode/length", r.length as f64),
                ("episode/epsilon", r.epsilon),
            ],
        );
    }

    fn on_update(&mut self, r: &UpdateRecord) {
        self.log.on_update(r);
        self.scalars(
            r.step,
            &[("train/loss", r.loss), ("train/mean_q", r.mean_q)],
        );
    }

    fn on_eval(&mut self, r: &EvalRecord) {
        self.log.on_eval(r);
        self.scalars(r.step, &[("eval/mean", r.stats.mean)]);
    }

    fn on_progress(&mut self, p: &Progress) {
        if self.last_speed_step != Some(p.step) {
            self.last_speed_step = Some(p.step);
            self.scalars(
                p.step,
                &[("time/steps_per_s", p.step as f64 / p.wall_s.max(1e-9))],
            );
        }
        if let Some(bar) = &self.progress {
            bar.set_position(p.step);
            let mean = p
                .mean_return_100
                .map_or("-".to_string(), |m| format!("{m:.1}"));
            let long = p.long_episode_steps.map_or(String::new(), |n| {
                format!("  an episode has run {n} steps without ending")
            });
            bar.set_message(format!(
                "return(100) {mean}  ε {:.3}  episodes {}{long}",
                p.epsilon, p.episodes
            ));
        }
    }

    fn on_eval_progress(&mut self, p: &EvalProgress) {
        if let Some(bar) = &self.progress {
            bar.set_message(evaluation_message(p));
        }
    }

    fn wants_checkpoints(&self) -> bool {
        self.log.wants_checkpoints()
    }

    fn on_checkpoint(&mut self, checkpoint: &[u8], step: u64) {
        self.log.on_checkpoint(checkpoint, step);
    }

    fn should_stop(&mut self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn should_stop_evaluating(&mut self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// "evaluating: 3/100 episodes, 12345 steps (1 hit the 27000-step cap)", for progress bars.
pub fn evaluation_message(p: &EvalProgress) -> String {
    let capped = if p.capped > 0 {
        format!(" ({} hit the {}-step cap)", p.capped, p.max_episode_steps)
    } else {
        String::new()
    };
    format!(
        "evaluating: {}/{} episodes, {} steps{capped}",
        p.episodes_done, p.episodes, p.steps
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_whole_steps_with_thousands_separators() {
        assert_eq!(rate_text(7265.1473), "7,265/s");
        assert_eq!(rate_text(12.6), "13/s");
        assert_eq!(rate_text(0.0), "0/s");
    }
}
