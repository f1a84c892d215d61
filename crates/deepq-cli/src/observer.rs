//! The training observer behind `deepq train`: CSV logs, the progress bar and a stop flag.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deepq::run_dir::{CsvLog, EPISODES_HEADER, EVAL_HEADER, RunDir, TRAIN_HEADER, write_atomic};
use deepq::train::{EpisodeRecord, EvalRecord, Observer, Progress, UpdateRecord};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{CliResult, Failure};
use crate::tensorboard::EventWriter;

/// Writes a run's CSV logs as training goes and drives its progress bar.
pub struct RunObserver {
    episodes: CsvLog,
    train: CsvLog,
    eval: CsvLog,
    progress: Option<ProgressBar>,
    tensorboard: Option<EventWriter>,
    /// Step of the last `time/steps_per_s` point: the progress report that ends a run can
    /// repeat the step of the one before it, and one point per step is what TensorBoard plots.
    last_speed_step: Option<u64>,
    stop: Arc<AtomicBool>,
    checkpoint: PathBuf,
    last_checkpoint: Option<u64>,
    /// The first write error; callbacks cannot return it, so it is reported at the end.
    error: Option<Failure>,
}

impl RunObserver {
    /// Creates the CSV logs in `run` (and TensorBoard events in `run/tensorboard/` when
    /// asked), or continues them from `resume_step`; `progress` shows a bar, `stop` ends
    /// training when set.
    pub fn new(
        run: &RunDir,
        progress: Option<ProgressBar>,
        tensorboard: bool,
        resume_step: Option<u64>,
        stop: Arc<AtomicBool>,
    ) -> CliResult<Self> {
        let log = |path, header| match resume_step {
            None => CsvLog::create(path, header),
            Some(step) => CsvLog::resume(path, header, step),
        };
        let checkpoint = run.checkpoint();
        let dir = checkpoint
            .parent()
            .expect("the checkpoint lives in a folder");
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Runtime(format!("cannot create '{}': {e}", dir.display())))?;
        Ok(RunObserver {
            episodes: log(run.episodes_csv(), EPISODES_HEADER)?,
            train: log(run.train_csv(), TRAIN_HEADER)?,
            eval: log(run.eval_csv(), EVAL_HEADER)?,
            checkpoint,
            last_checkpoint: None,
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
        self.error.map_or(Ok(()), Err)
    }

    /// Step of the last checkpoint written in this session.
    pub fn last_checkpoint(&self) -> Option<u64> {
        self.last_checkpoint
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

/// A progress bar over the run's step budget.
pub fn progress_bar(total_steps: u64) -> ProgressBar {
    let bar = ProgressBar::new(total_steps);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  {msg}")
            .expect("valid progress template"),
    );
    bar
}

impl Observer for RunObserver {
    fn on_episode(&mut self, r: &EpisodeRecord) {
        let result = self.episodes.line(format_args!(
            "{},{},{},{},{},{:.3}",
            r.episode, r.step, r.ret, r.length, r.epsilon, r.wall_s
        ));
        self.keep(result);
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
        let result = self.train.line(format_args!(
            "{},{},{},{}",
            r.step, r.loss, r.mean_q, r.learning_rate
        ));
        self.keep(result);
        self.scalars(
            r.step,
            &[("train/loss", r.loss), ("train/mean_q", r.mean_q)],
        );
    }

    fn on_eval(&mut self, r: &EvalRecord) {
        let s = &r.stats;
        let result = self.eval.line(format_args!(
            "{},{},{},{},{}",
            r.step, s.mean, s.std, s.min, s.max
        ));
        self.keep(result);
        self.scalars(r.step, &[("eval/mean", s.mean)]);
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
            bar.set_message(format!(
                "return(100) {mean}  ε {:.3}  episodes {}",
                p.epsilon, p.episodes
            ));
        }
    }

    fn wants_checkpoints(&self) -> bool {
        true
    }

    fn on_checkpoint(&mut self, checkpoint: &[u8], step: u64) {
        let result = write_atomic(&self.checkpoint, checkpoint);
        if result.is_ok() {
            self.last_checkpoint = Some(step);
        }
        self.keep(result);
    }

    fn should_stop(&mut self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
