//! Progress of long commands, in one place: a bar (rate and ETA) on stderr when it is a
//! terminal; plain lines otherwise (nohup, a pipe, a log file), printed whenever the caller
//! marks an update as worth a line (every training record) and at least every
//! [`LINE_EVERY`], so a log shows a run's progress as it goes.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The longest a non-terminal stderr goes without a progress line while work goes on.
pub const LINE_EVERY: Duration = Duration::from_secs(30);

/// Whether progress is drawn as a bar (stderr is a terminal) or printed as lines.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

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

/// The progress of one activity (`label`: "train", "eval", "iter 2 fine-tune", …).
pub struct Reporter {
    label: String,
    unit: String,
    total: u64,
    pos: u64,
    started: Instant,
    last_line: Option<Instant>,
    printed: Option<u64>,
    bar: Option<ProgressBar>,
}

impl Reporter {
    /// A bar on a terminal, lines otherwise.
    pub fn new(label: &str, total: u64, unit: &str) -> Self {
        Self::with_bar(label, total, unit, stderr_is_terminal())
    }

    fn with_bar(label: &str, total: u64, unit: &str, use_bar: bool) -> Self {
        Reporter {
            label: label.to_string(),
            unit: unit.to_string(),
            total,
            pos: 0,
            started: Instant::now(),
            last_line: None,
            printed: None,
            bar: use_bar.then(|| bar(total, unit)),
        }
    }

    /// Changes the total.
    pub fn set_length(&mut self, total: u64) {
        self.total = total;
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
    }

    /// Position `pos` with a status message. Without a terminal a line is printed when
    /// `line` is set or [`LINE_EVERY`] has passed since the last one; `eta_secs` (else
    /// estimated from the rate) ends it.
    pub fn update(&mut self, pos: u64, msg: &str, eta_secs: Option<f64>, line: bool) {
        self.pos = pos;
        if let Some(b) = &self.bar {
            b.set_position(pos);
            b.set_message(msg.to_string());
            return;
        }
        let due = self.last_line.is_none_or(|t| t.elapsed() >= LINE_EVERY);
        if line || due {
            eprintln!("{}", self.line(msg, eta_secs));
            self.last_line = Some(Instant::now());
            self.printed = Some(pos);
        }
    }

    /// The plain line for the current position.
    fn line(&self, msg: &str, eta_secs: Option<f64>) -> String {
        let pct = if self.total > 0 {
            format!(" ({:.0}%)", 100.0 * self.pos as f64 / self.total as f64)
        } else {
            String::new()
        };
        let eta = eta_secs.or_else(|| {
            let secs = self.started.elapsed().as_secs_f64();
            (self.pos > 0 && self.total >= self.pos)
                .then(|| secs / self.pos as f64 * (self.total - self.pos) as f64)
        });
        let mut out = format!(
            "[{}] {} {}/{}{pct}",
            self.label, self.unit, self.pos, self.total
        );
        if !msg.is_empty() {
            out.push_str(", ");
            out.push_str(msg);
        }
        if let Some(eta) = eta.filter(|_| self.pos < self.total) {
            out.push_str(&format!(", ETA {}", duration(eta)));
        }
        out
    }

    /// Ends the activity: clears the bar, or prints a last line if the newest position
    /// has not been printed.
    pub fn finish(self, msg: &str) {
        match &self.bar {
            Some(b) => b.finish_and_clear(),
            None if self.pos > 0 && self.printed != Some(self.pos) => {
                eprintln!("{}", self.line(msg, Some(0.0)))
            }
            None => {}
        }
    }
}

/// `1h 02m`, `3m 20s`, `45s`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

/// The status of a training step: losses and throughput.
pub fn train_message(p: &planform_train::Progress) -> String {
    let mut parts = Vec::new();
    if let Some(l) = p.loss {
        parts.push(format!("loss {l:.4}"));
    }
    if let Some(l) = p.eval_loss {
        parts.push(format!("held-out {l:.4}"));
    }
    parts.push(format!("lr {:.2e}", p.lr));
    parts.push(format!("{:.0} tok/s", p.tokens_per_sec));
    parts.join(", ")
}

/// Reports a training step: a line at every training record, held-out loss or checkpoint.
pub fn train_update(r: &mut Reporter, p: &planform_train::Progress) {
    if r.total != p.total_steps {
        r.set_length(p.total_steps);
    }
    let line = p.logged || p.evaluated || p.checkpointed;
    r.update(p.step, &train_message(p), p.eta_secs, line);
}

/// Reports evaluation progress (a line at least every [`LINE_EVERY`]).
pub fn eval_update(r: &mut Reporter, p: &planform_eval::Progress) {
    if r.total != p.tasks_total as u64 {
        r.set_length(p.tasks_total as u64);
    }
    let msg = format!("{:.0} tok/s", p.tokens_per_sec());
    r.update(p.tasks_done as u64, &msg, None, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_position_percentage_message_and_eta() {
        let mut r = Reporter::with_bar("train", 300, "step", false);
        r.pos = 120;
        assert_eq!(
            r.line("loss 0.4000", Some(200.0)),
            "[train] step 120/300 (40%), loss 0.4000, ETA 3m 20s"
        );
        r.pos = 300;
        assert_eq!(r.line("", Some(0.0)), "[train] step 300/300 (100%)");
        assert_eq!(duration(3725.0), "1h 02m");
        assert_eq!(duration(59.4), "59s");
    }
}
