//! Colour for humans on a terminal, plain text for everything else
//! (<https://no-color.org>: a non-empty `NO_COLOR` turns colour off).

use std::io::IsTerminal;

/// The `--color` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// How to decorate text written to stdout.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// The style for stdout under `choice`.
    pub fn for_stdout(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && std::io::stdout().is_terminal(),
        };
        Self { color }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Something that passed.
    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Something refused or wrong.
    pub fn bad(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// A name worth finding at a glance: a file, a JSON path, a header.
    pub fn strong(self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Secondary detail.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}
