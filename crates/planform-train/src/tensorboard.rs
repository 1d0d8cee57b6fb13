//! TensorBoard event files, written directly (no TensorFlow or protobuf dependency).
//!
//! `<run>/tb/events.out.tfevents.planform` mirrors `metrics.jsonl`: one `Event` per record
//! with a `Summary` of scalar values (`train/loss`, `train/lr`, `eval/loss`, …) at the
//! record's step. `tensorboard --logdir runs/` reads it.
//!
//! The format: a sequence of TFRecords — `u64` length (little-endian), masked CRC32C of
//! those 8 bytes, the data, masked CRC32C of the data — each holding an `Event` protobuf.
//! The first event carries `file_version = "brain.Event:2"`. The protobuf subset encoded
//! here (field number, wire type):
//!
//! ```text
//! Event   { wall_time: double (1, fixed64), step: int64 (2, varint),
//!           file_version: string (3, bytes), summary: Summary (5, bytes) }
//! Summary { value: repeated Value (1, bytes) }
//! Value   { tag: string (1, bytes), simple_value: float (2, fixed32) }
//! ```
//!
//! Like `metrics.jsonl`, the file is rewritten on resume keeping only the events up to the
//! checkpoint's step (a torn last record from a kill is dropped), then appended to.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checkpoint::write_atomic;
use crate::error::{Result, TrainError};

/// Directory of the event file inside the run directory.
pub const TB_DIR: &str = "tb";
/// The event file's name (TensorBoard reads any file whose name contains `tfevents`).
pub const EVENTS_FILE: &str = "events.out.tfevents.planform";
/// `file_version` of the first event.
pub const FILE_VERSION: &str = "brain.Event:2";

/// One decoded event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Seconds since the Unix epoch.
    pub wall_time: f64,
    /// Training step.
    pub step: i64,
    /// `file_version`, on the first event.
    pub file_version: Option<String>,
    /// Scalar values `(tag, value)` of its summary.
    pub scalars: Vec<(String, f32)>,
}

// ---- CRC32C (Castagnoli), as TFRecord uses it ----

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// TFRecord's masked CRC: rotated right by 15 bits plus a constant.
pub fn masked_crc(bytes: &[u8]) -> u32 {
    crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord around `data`.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// The complete records of a TFRecord byte stream, CRCs checked. A torn record at the
/// end (a kill mid-write) ends the list; a bad CRC before the end is an error.
pub fn unframe(bytes: &[u8]) -> std::result::Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 12 {
            break;
        }
        let (len_bytes, tail) = rest.split_at(8);
        let crc = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if crc != masked_crc(len_bytes) {
            return Err(format!("record {}: length CRC mismatch", out.len()));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().map_err(|_| "short length")?);
        let tail = &tail[4..];
        let Some(need) = usize::try_from(len).ok().and_then(|l| l.checked_add(4)) else {
            return Err(format!("record {}: absurd length {len}", out.len()));
        };
        if tail.len() < need {
            break;
        }
        let (data, tail) = tail.split_at(need - 4);
        let crc = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if crc != masked_crc(data) {
            return Err(format!("record {}: data CRC mismatch", out.len()));
        }
        out.push(data);
        rest = &tail[4..];
    }
    Ok(out)
}

// ---- protobuf, the subset above ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | 2), out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// The protobuf bytes of `event`.
pub fn encode_event(event: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(1 << 3 | 1);
    out.extend_from_slice(&event.wall_time.to_le_bytes());
    out.push(2 << 3);
    varint(event.step as u64, &mut out);
    if let Some(v) = &event.file_version {
        bytes_field(3, v.as_bytes(), &mut out);
    }
    if !event.scalars.is_empty() {
        let mut summary = Vec::new();
        for (tag, value) in &event.scalars {
            let mut v = Vec::new();
            bytes_field(1, tag.as_bytes(), &mut v);
            v.push(2 << 3 | 5);
            v.extend_from_slice(&value.to_le_bytes());
            bytes_field(1, &v, &mut summary);
        }
        bytes_field(5, &summary, &mut out);
    }
    out
}

/// A protobuf field: number and payload.
enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Fixed32([u8; 4]),
    Bytes(&'a [u8]),
}

fn fields(mut b: &[u8]) -> std::result::Result<Vec<(u32, Field<'_>)>, String> {
    fn read_varint(b: &mut &[u8]) -> std::result::Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first().ok_or("truncated varint")?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    fn take<'a>(b: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
        if b.len() < n {
            return Err("truncated field".into());
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = read_varint(&mut b)?;
        let number = u32::try_from(key >> 3).map_err(|_| "field number too large")?;
        let field = match key & 7 {
            0 => Field::Varint(read_varint(&mut b)?),
            1 => Field::Fixed64(take(&mut b, 8)?.try_into().map_err(|_| "fixed64")?),
            2 => {
                let n = usize::try_from(read_varint(&mut b)?).map_err(|_| "length")?;
                Field::Bytes(take(&mut b, n)?)
            }
            5 => Field::Fixed32(take(&mut b, 4)?.try_into().map_err(|_| "fixed32")?),
            w => return Err(format!("unsupported wire type {w}")),
        };
        out.push((number, field));
    }
    Ok(out)
}

/// Decodes the protobuf bytes of an event (unknown fields are skipped).
pub fn decode_event(bytes: &[u8]) -> std::result::Result<Event, String> {
    let mut e = Event {
        wall_time: 0.0,
        step: 0,
        file_version: None,
        scalars: Vec::new(),
    };
    for (number, field) in fields(bytes)? {
        match (number, field) {
            (1, Field::Fixed64(b)) => e.wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(v)) => e.step = v as i64,
            (3, Field::Bytes(b)) => {
                e.file_version = Some(String::from_utf8(b.to_vec()).map_err(|e| e.to_string())?)
            }
            (5, Field::Bytes(summary)) => {
                for (n, value) in fields(summary)? {
                    let (1, Field::Bytes(value)) = (n, value) else {
                        continue;
                    };
                    let (mut tag, mut v) = (String::new(), None);
                    for (n, f) in fields(value)? {
                        match (n, f) {
                            (1, Field::Bytes(t)) => {
                                tag = String::from_utf8(t.to_vec()).map_err(|e| e.to_string())?
                            }
                            (2, Field::Fixed32(x)) => v = Some(f32::from_le_bytes(x)),
                            _ => {}
                        }
                    }
                    if let Some(v) = v {
                        e.scalars.push((tag, v));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(e)
}

/// The events of an event file (missing file: none).
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io(path, e)),
    };
    let bad = |m: String| TrainError::Data(format!("{}: {m}", path.display()));
    unframe(&bytes)
        .map_err(bad)?
        .into_iter()
        .map(|r| decode_event(r).map_err(bad))
        .collect()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Appends scalar events to `<run>/tb/events.out.tfevents.planform`.
pub struct EventWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl EventWriter {
    /// Opens the run's event file for appending after keeping only the events with
    /// `step <= keep_through` (`None`: start a new file).
    pub fn open(run_dir: &Path, keep_through: Option<u64>) -> Result<Self> {
        let dir = run_dir.join(TB_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
        let path = dir.join(EVENTS_FILE);
        let kept = match keep_through {
            // An unreadable old file is replaced rather than failing the resume: it only
            // mirrors metrics.jsonl.
            Some(step) => read_events(&path)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.file_version.is_none() && e.step >= 0 && e.step as u64 <= step)
                .collect(),
            None => Vec::new(),
        };
        let mut bytes = frame(&encode_event(&Event {
            wall_time: now(),
            step: 0,
            file_version: Some(FILE_VERSION.into()),
            scalars: Vec::new(),
        }));
        for e in &kept {
            bytes.extend(frame(&encode_event(e)));
        }
        write_atomic(&path, &bytes)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        Ok(EventWriter { path, file })
    }

    /// Appends one event of scalars at `step`, stamped now.
    pub fn write_scalars(&mut self, step: u64, scalars: Vec<(String, f32)>) -> Result<()> {
        let event = Event {
            wall_time: now(),
            step: step as i64,
            file_version: None,
            scalars,
        };
        self.file
            .write_all(&frame(&encode_event(&event)))
            .map_err(|e| TrainError::io(&self.path, e))?;
        self.file.flush().map_err(|e| TrainError::io(&self.path, e))
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_published_check_values() {
        // RFC 3720 B.4 and the usual "123456789" check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn a_known_event_encodes_to_the_bytes_protobuf_gives() {
        // Hand-derived from the protobuf wire format: wall_time 1.5, step 300, one value
        // tag "a" = 0.5.
        let e = Event {
            wall_time: 1.5,
            step: 300,
            file_version: None,
            scalars: vec![("a".into(), 0.5)],
        };
        let mut want = vec![0x09];
        want.extend_from_slice(&1.5f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 0xac, 0x02]); // 300 = 0b10_0101100
        want.extend_from_slice(&[0x2a, 0x0a, 0x0a, 0x08, 0x0a, 0x01, b'a', 0x15]);
        want.extend_from_slice(&0.5f32.to_le_bytes());
        assert_eq!(encode_event(&e), want);
        assert_eq!(decode_event(&want).unwrap(), e);
    }

    #[test]
    fn torn_tails_are_dropped_and_corruption_is_an_error() {
        let mut bytes = frame(b"one");
        bytes.extend(frame(b"two"));
        let whole = bytes.len();
        assert_eq!(unframe(&bytes).unwrap(), vec![&b"one"[..], &b"two"[..]]);
        for cut in whole - 7..whole {
            assert_eq!(
                unframe(&bytes[..cut]).unwrap(),
                vec![&b"one"[..]],
                "cut {cut}"
            );
        }
        let mut bad = bytes.clone();
        bad[13] ^= 1; // inside "one"
        assert!(unframe(&bad).unwrap_err().contains("data CRC"));
        let mut bad = bytes;
        bad[0] ^= 1; // the first length
        assert!(unframe(&bad).unwrap_err().contains("length CRC"));
    }

    #[test]
    fn reopening_keeps_events_through_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::open(dir.path(), None).unwrap();
        for s in [10, 20, 30] {
            w.write_scalars(s, vec![("train/loss".into(), s as f32)])
                .unwrap();
        }
        drop(w);
        let mut w = EventWriter::open(dir.path(), Some(20)).unwrap();
        w.write_scalars(30, vec![("train/loss".into(), 3.0)])
            .unwrap();
        let events = read_events(&dir.path().join(TB_DIR).join(EVENTS_FILE)).unwrap();
        assert_eq!(events[0].file_version.as_deref(), Some(FILE_VERSION));
        let got: Vec<(i64, f32)> = events[1..]
            .iter()
            .map(|e| (e.step, e.scalars[0].1))
            .collect();
        assert_eq!(got, vec![(10, 10.0), (20, 20.0), (30, 3.0)]);
    }
}
