//! Training into a run directory: [`RunLog`] writes a run's CSV logs and checkpoints as it
//! trains, and [`save`] writes its model and `summary.json` when it ends. The `deepq` command
//! and the Python package both train runs through these, so a run directory is the same
//! whichever front end wrote it.

use std::path::PathBuf;

use crate::config::DqnConfig;
use crate::core::TrainSummary;
use crate::observer::{EpisodeRecord, EvalRecord, Observer, UpdateRecord};
use crate::run_dir::{
    CsvLog, EPISODES_HEADER, EVAL_HEADER, Result, RunDir, RunDirError, TRAIN_HEADER, write_atomic,
};
use crate::summary::{self, RunSummary};

/// Writes `episodes.csv`, `train.csv`, `eval.csv` and `checkpoint/trainer.ckpt` of a run as
/// training reports them. Observer callbacks cannot fail, so the first write error is kept
/// and returned by [`RunLog::finish`].
pub struct RunLog {
    episodes: CsvLog,
    train: CsvLog,
    eval: CsvLog,
    checkpoint: PathBuf,
    last_checkpoint: Option<u64>,
    error: Option<RunDirError>,
}

impl RunLog {
    /// Creates the logs of a new run in `run`, or continues them from `resume_step` (rows
    /// past it are dropped, since the resumed run logs them again).
    pub fn new(run: &RunDir, resume_step: Option<u64>) -> Result<Self> {
        let log = |path, header| match resume_step {
            None => CsvLog::create(path, header),
            Some(step) => CsvLog::resume(path, header, step),
        };
        let checkpoint = run.checkpoint();
        let dir = checkpoint
            .parent()
            .expect("the checkpoint lives in a folder");
        std::fs::create_dir_all(dir).map_err(|e| RunDirError::io("create", dir, e))?;
        Ok(RunLog {
            episodes: log(run.episodes_csv(), EPISODES_HEADER)?,
            train: log(run.train_csv(), TRAIN_HEADER)?,
            eval: log(run.eval_csv(), EVAL_HEADER)?,
            checkpoint,
            last_checkpoint: None,
            error: None,
        })
    }

    /// Step of the last checkpoint written in this session.
    pub fn last_checkpoint(&self) -> Option<u64> {
        self.last_checkpoint
    }

    /// Ends logging: the first write error, if any.
    pub fn finish(self) -> Result<()> {
        self.error.map_or(Ok(()), Err)
    }

    fn keep(&mut self, result: Result<()>) {
        if let (Err(e), None) = (result, &self.error) {
            self.error = Some(e);
        }
    }
}

impl Observer for RunLog {
    fn on_episode(&mut self, r: &EpisodeRecord) {
        let result = self.episodes.line(format_args!(
            "{},{},{},{},{},{:.3}",
            r.episode, r.step, r.ret, r.length, r.epsilon, r.wall_s
        ));
        self.keep(result);
    }

    fn on_update(&mut self, r: &UpdateRecord) {
        let result = self.train.line(format_args!(
            "{},{},{},{}",
            r.step, r.loss, r.mean_q, r.learning_rate
        ));
        self.keep(result);
    }

    fn on_eval(&mut self, r: &EvalRecord) {
        let s = &r.stats;
        let result = self.eval.line(format_args!(
            "{},{},{},{},{}",
            r.step, s.mean, s.std, s.min, s.max
        ));
        self.keep(result);
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
}

/// Saves a finished run's model and `summary.json` into `run`; returns the summary.
pub fn save(
    run: &RunDir,
    cfg: &DqnConfig,
    preset: &str,
    trained: TrainSummary,
    model: &[u8],
) -> Result<RunSummary> {
    run.write_model(model)?;
    let summary = RunSummary::new(cfg, preset, trained);
    summary::write(run, &summary)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EvalSettings, ReplaySettings, RunSettings};

    #[test]
    fn a_trained_run_leaves_the_usual_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        let cfg = DqnConfig {
            run: RunSettings {
                total_timesteps: 1500,
                ..RunSettings::default()
            },
            replay: ReplaySettings {
                learning_starts: crate::config::Count::steps(500),
                ..ReplaySettings::default()
            },
            eval: EvalSettings {
                freq: crate::config::Count::steps(500),
                episodes: 2,
                ..EvalSettings::default()
            },
            ..DqnConfig::default()
        };
        let mut log = RunLog::new(&run, None).unwrap();
        let outcome = crate::train(&cfg, &mut log).unwrap();
        assert_eq!(log.last_checkpoint(), Some(1500));
        log.finish().unwrap();
        let summary = save(
            &run,
            &cfg,
            "custom",
            outcome.summary,
            &outcome.model.to_safetensors(),
        )
        .unwrap();
        assert_eq!(summary.env_steps, 1500);
        assert_eq!(RunSummary::read(&run).unwrap(), summary);
        let (_, eval) = crate::run_dir::read_csv(&run.eval_csv()).unwrap();
        assert_eq!(eval[0], [500.0, 1000.0, 1500.0]);
        let (_, episodes) = crate::run_dir::read_csv(&run.episodes_csv()).unwrap();
        assert!(!episodes[0].is_empty());
        assert!(run.checkpoint().is_file() && run.model().is_file());
    }
}
