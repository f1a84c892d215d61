//! `deepq play`: replay one greedy episode of a trained agent, animated in the terminal or
//! written as a GIF.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use deepq::envs::{Env, EnvSpec, EnvVisitor, RgbFrame};
use deepq::eval::{EpisodeEnd, run_episode};
use deepq::run_dir::{LoadedRun, write_atomic};

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
    let env = deepq::envs::make(&loaded.config.env, &loaded.config.env_kwargs)?;
    if args.fps == 0 {
        return Err(Failure::Usage(
            "invalid value 0 for '--fps': must be at least 1".into(),
        ));
    }
    let played = env.visit(Play {
        loaded: &loaded,
        render: &args.render,
        seed: args.seed,
        fps: args.fps,
    })?;
    let how = match played.end {
        EpisodeEnd::Terminated => {
            "terminated (the environment reached a terminal state: failure, or the goal)"
        }
        EpisodeEnd::Truncated => "truncated (the time limit)",
    };
    println!(
        "{}: episode ended after {} steps with return {:.2}: {how}",
        played.env, played.length, played.ret
    );
    if let Render::Gif(path) = &args.render {
        println!("wrote {} ({} frames)", path.display(), played.frames);
    }
    Ok(())
}

struct Played {
    env: String,
    ret: f64,
    length: u64,
    end: EpisodeEnd,
    frames: usize,
}

struct Play<'a> {
    loaded: &'a LoadedRun,
    render: &'a Render,
    seed: u64,
    fps: u32,
}

impl EnvVisitor for Play<'_> {
    type Output = CliResult<Played>;

    fn visit<E: Env + Clone + 'static>(self, mut env: E, spec: EnvSpec) -> CliResult<Played> {
        let mut policy = self.loaded.model.greedy_policy();
        let delay = Duration::from_secs_f64(1.0 / f64::from(self.fps));
        let (ret, length, end, frames) = match self.render {
            Render::Terminal => {
                let mut out = std::io::stdout().lock();
                let mut drawn_lines = 0;
                let mut draw = |env: &E| {
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
                };
                let (ret, length, end) =
                    run_episode(&mut env, Some(self.seed), &mut policy, &mut draw);
                (ret, length, end, length as usize + 1)
            }
            Render::Gif(path) => {
                let mut frames = Vec::new();
                let (ret, length, end) =
                    run_episode(&mut env, Some(self.seed), &mut policy, |env: &E| {
                        frames.push(env.render_rgb())
                    });
                write_gif(path, &frames, self.fps)?;
                (ret, length, end, frames.len())
            }
        };
        Ok(Played {
            env: spec.id,
            ret,
            length,
            end,
            frames,
        })
    }
}

/// Encodes `frames` as a looping GIF at `fps` and writes it atomically.
pub fn write_gif(path: &Path, frames: &[RgbFrame], fps: u32) -> CliResult<()> {
    let fail = |e: String| Failure::Runtime(format!("cannot write GIF '{}': {e}", path.display()));
    let first = frames.first().ok_or_else(|| fail("no frames".into()))?;
    let (w, h) = (
        u16::try_from(first.width).map_err(|_| fail("frame too wide".into()))?,
        u16::try_from(first.height).map_err(|_| fail("frame too tall".into()))?,
    );
    let mut bytes = Vec::new();
    {
        let mut encoder =
            gif::Encoder::new(&mut bytes, w, h, &[]).map_err(|e| fail(e.to_string()))?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(|e| fail(e.to_string()))?;
        let delay = (100 / fps.max(1)).max(2) as u16; // GIF delays are in 1/100 s
        for frame in frames {
            // Speed 30 is the fastest quantizer; the env pictures have few colours.
            let mut gif_frame = gif::Frame::from_rgb_speed(w, h, &frame.data, 30);
            gif_frame.delay = delay;
            encoder
                .write_frame(&gif_frame)
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(write_atomic(path, &bytes)?)
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
