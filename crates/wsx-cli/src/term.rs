//! Terminal output shared by the commands: colour only where a person reads
//! it. `anstream` (the stream clap prints its help through) decides per
//! stream: colour on a terminal, plain text into a file or a pipe, none
//! under `NO_COLOR` or after [`disable_color`] (`--no-color`).

use anstream::ColorChoice;
use anstyle::{AnsiColor, Style};

/// Status that went well (connected, a normal close).
pub(crate) const GOOD: Style = AnsiColor::Green.on_default();
/// Errors and abnormal closes.
pub(crate) const BAD: Style = AnsiColor::Red.on_default().bold();
/// Warnings and asides (pings, pongs, hints).
pub(crate) const DIM: Style = Style::new().dimmed();
/// The marker in front of received messages on a terminal.
pub(crate) const INCOMING: Style = AnsiColor::Cyan.on_default();

/// Turns colour off for every stream of this process.
pub(crate) fn disable_color() {
    ColorChoice::Never.write_global();
}

/// Whether text written to stderr keeps its colour (a terminal, no
/// `NO_COLOR`, no `--no-color`).
pub(crate) fn stderr_has_color() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != ColorChoice::Never
}
