//! `deepq play`: replay one greedy episode of a trained agent, animated in the terminal or
//! written as a GIF.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use deepq::envs::{Env, EnvSpec, EnvVisitor};
use deepq::eval::{Episode, EpisodeEnd, run_episode};
use deepq::run_dir::LoadedRun;
use deepq_plots::gif::GifWriter;

use crate::cli::PlayArgs;
use crate::commands::eval::open_run;
use crate::error::{CliResult, Failure};

/// Where `play` draws the episode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Render {
    /// Animate the env's text frame in place.
    Terminal,
    /// Write an animated GIF.
    Gif(PathBuf),
}

/// Parses `--render`: `terminal` or `gif=FILE`.
pub fn parse_render(spec: &str) -> Result<Render, String> {
    match spec.split_once('=') {
        None if spec == "terminal" => Ok(Render::Terminal),
        Some(("gif", file)) if !file.is_empty() => Ok(Render::Gif(PathBuf::from(file))),
        // clap prefixes "invalid value '{spec}' for '--render <RENDER>': ".
        _ => Err("expected terminal or gif=FILE".into()),
    }
}

/// Runs `deepq play`.
pub fn run(args: &PlayArgs) -> CliResult<()> {
    let loaded = open_run(&args.run)?;
    let env = deepq::envs::make(&loaded.config.run.env, &loaded.config.run.env_kwargs)?;
    if args.fps == 0 {
        return Err(Failure::Usage(
            "invalid value 0 for '--fps': must be at least 1".into(),
        ));
    }
    let max_steps = loaded.config.eval.max_episode_steps;
    let played = env.visit(Play {
        loaded: &loaded,
        render: &args.render,
        seed: args.seed,
        fps: args.fps,
        max_steps,
    })?;
    let episode = played.episode;
    let how = match episode.end {
        EpisodeEnd::Terminated => {
            "terminated (the environment reached a terminal state: failure, or the goal)".into()
        }
        EpisodeEnd::Truncated => "truncated (the time limit)".into(),
        EpisodeEnd::Capped => format!(
            "truncated (it reached the {max_steps}-step cap, eval_max_episode_steps, without ending)"
        ),
    };
    println!(
        "{}: episode ended after {} steps with return {:.2}: {how}",
        played.env, episode.length, episode.ret
    );
    if let Render::Gif(path) = &args.render {
        println!("wrote {} ({} frames)", path.display(), played.frames);
    }
    Ok(())
}

struct Played {
    env: String,
    episode: Episode,
    frames: usize,
}

struct Play<'a> {
    loaded: &'a LoadedRun,
    render: &'a Render,
    seed: u64,
    fps: u32,
    max_steps: u64,
}

impl EnvVisitor for Play<'_> {
    type Output = CliResult<Played>;

    fn visit<E: Env + Clone + 'static>(self, mut env: E, spec: EnvSpec) -> CliResult<Played> {
        let mut policy = self.loaded.model.greedy_policy();
        let delay = Duration::from_secs_f64(1.0 / f64::from(self.fps));
        let mut play = |on_frame: &mut dyn FnMut(&E)| {
            run_episode(
                &mut env,
                Some(self.seed),
                self.max_steps,
                &mut policy,
                on_frame,
                |_| true,
            )
            .expect("an episode that is never stopped ends")
        };
        let (episode, frames) = match self.render {
            Render::Terminal => {
                let mut out = std::io::stdout().lock();
                let mut drawn_lines = 0;
                let episode = play(&mut |env: &E| {
                    let frame = env.render_text();
                    // Move the cursor back over the previous frame and draw over it.
                    if drawn_lines > 0 {
                        let _ = write!(out, "\x1b[{drawn_lines}A");
                    }
                    for line in frame.lines() {
                        let _ = writeln!(out, "{line}\x1b[K");
                    }
                    let _ = out.flush();
                    drawn_lines = frame.lines().count();
                    std::thread::sleep(delay);
                });
                (episode, episode.length as usize + 1)
            }
            Render::Gif(path) => {
                let mut gif = GifWriter::new(path, self.fps);
                let episode = play(&mut |env: &E| {
                    let frame = env.render_rgb();
                    gif.add(frame.width, frame.height, &frame.data);
                });
                let frames = gif.finish().map_err(|e| Failure::Runtime(e.to_string()))?;
                (episode, frames)
            }
        };
        Ok(Played {
            env: spec.id,
            episode,
            frames,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_spec_parses() {
        assert_eq!(parse_render("terminal").unwrap(), Render::Terminal);
        assert_eq!(
            parse_render("gif=a.gif").unwrap(),
            Render::Gif("a.gif".into())
        );
        assert!(parse_render("gif=").is_err());
        assert!(parse_render("video").is_err());
    }
}
