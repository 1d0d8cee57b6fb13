//! Progress bars for long runs (rate and ETA), drawn on stderr and hidden when it is not a
//! terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar for `total` items of `unit` (e.g. "tasks"), showing rate and ETA.
pub fn bar(total: u64, unit: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:32}} {{human_pos}}/{{human_len}} {unit} \
         ({{per_sec}}, ETA {{eta}}) {{msg}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style);
    }
    pb
}
