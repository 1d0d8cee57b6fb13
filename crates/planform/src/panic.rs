//! Panics as errors: tch's non-`f_` calls panic when libtorch throws (a failed allocation,
//! a shape error deep inside an op). The hook records the message quietly (no backtrace);
//! `main` reports it as `error: libtorch: <first line of the C++ message>`. Any other panic
//! is an internal error and says where it happened.

use std::any::Any;
use std::sync::Mutex;

/// Where the newest panic happened (`file:line`).
static LOCATION: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the default hook (which prints the message and, with `RUST_BACKTRACE`, a
/// backtrace) with one that records the location. A panic on a thread other than the
/// main one is also printed on one line, since its owner may turn it into another error.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        if let Ok(mut slot) = LOCATION.lock() {
            slot.clone_from(&location);
        }
        let thread = std::thread::current();
        if thread.name() != Some("main") {
            let (message, _) = report(info.payload());
            eprintln!(
                "planform: thread '{}' failed: {message}",
                thread.name().unwrap_or("unnamed")
            );
        }
    }));
}

/// The text of a panic payload.
fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// What to print after `error: ` for a caught panic, and the exit status.
pub fn report(payload: &(dyn Any + Send)) -> (String, i32) {
    let text = payload_text(payload);
    match libtorch_message(&text) {
        Some(first) => {
            let hint = if first.contains("alloc") || first.contains("out of memory") {
                " (out of memory: use a smaller model, `batch.sequences`/`batch.max_tokens` \
                 or `--batch-rows`)"
            } else {
                ""
            };
            (format!("libtorch: {first}{hint}"), 1)
        }
        None => {
            let at = LOCATION
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            let first = text.lines().next().unwrap_or("").to_string();
            (format!("internal error{at}: {first}"), 101)
        }
    }
}

/// The first line of the libtorch message inside a tch panic (`… Torch("…")`), unescaped.
pub fn libtorch_message(panic: &str) -> Option<String> {
    let start = panic.find("Torch(\"")? + "Torch(\"".len();
    let mut out = String::new();
    let mut chars = panic[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next()? {
                'n' => break,
                't' => out.push('\t'),
                'r' => {}
                'u' => {
                    let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                    if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        out.push(c);
                    }
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    let line = out.trim().to_string();
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_of_a_torch_error_is_extracted() {
        let p = "called `Result::unwrap()` on an `Err` value: Torch(\"[enforce fail at \
                 alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried \
                 to allocate 281474976710656 bytes.\\nException raised from \\\"x\\\"\")";
        assert_eq!(
            libtorch_message(p).as_deref(),
            Some(
                "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough \
                 memory: you tried to allocate 281474976710656 bytes."
            )
        );
        assert_eq!(
            libtorch_message("Torch(\"a \\\"b\\\" \\u{e9}\")").as_deref(),
            Some("a \"b\" é")
        );
        assert_eq!(libtorch_message("index out of bounds"), None);
        let (m, code) = report(&String::from(p));
        assert!(m.starts_with("libtorch: [enforce fail") && m.contains("out of memory"));
        assert_eq!(code, 1);
        let (m, code) = report(&"boom\nmore");
        assert!(
            m.starts_with("internal error") && m.ends_with(": boom"),
            "{m}"
        );
        assert_eq!(code, 101);
    }
}
