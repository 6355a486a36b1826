//! Progress output on stderr for long phases. Hidden when stderr is not a terminal or when
//! the output is JSON, so scripts see only the result.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Copy)]
pub struct Progress {
    pub visible: bool,
}

impl Progress {
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::new_spinner();
        if !self.visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    pub fn bar(&self, len: u64, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::new(len);
        if !self.visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        bar
    }
}
