//! `deepq plot`: redraw the charts of a run, or of a `deepq train --seeds` directory, from
//! their logs.

use crate::cli::PlotArgs;
use crate::error::CliResult;

/// Runs `deepq plot`: prints each chart written, and each note written instead of a chart
/// whose data the run does not have.
pub fn run(args: &PlotArgs) -> CliResult<()> {
    for drawn in deepq_plots::draw_dir(&args.run, args.format)? {
        println!("{drawn}");
    }
    Ok(())
}
