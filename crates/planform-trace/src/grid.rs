//! Grid positions shared by both domains.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Largest allowed grid side (width or height) for both domains.
///
/// The cap keeps the vocabulary sane: a `w×h` maze vocabulary holds `w·h`
/// cost tokens, so 100×100 already means 10,000 cost tokens.
pub const MAX_SIDE: u32 = 100;

/// A cell `(x, y)`. Serialised as the JSON array `[x, y]`, like the golden files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Column.
    pub x: u32,
    /// Row.
    pub y: u32,
}

impl Pos {
    /// A position.
    pub const fn new(x: u32, y: u32) -> Self {
        Pos { x, y }
    }

    /// Row-major cell index `x + y·width`.
    #[inline]
    pub const fn index(self, width: u32) -> usize {
        (self.x + self.y * width) as usize
    }

    /// The position of row-major index `idx`.
    #[inline]
    pub const fn from_index(idx: usize, width: u32) -> Self {
        Pos {
            x: (idx % width as usize) as u32,
            y: (idx / width as usize) as u32,
        }
    }

    /// Manhattan distance.
    #[inline]
    pub fn manhattan(self, other: Pos) -> u32 {
        self.x.abs_diff(other.x) + self.y.abs_diff(other.y)
    }
}

impl Serialize for Pos {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        [self.x, self.y].serialize(s)
    }
}

impl<'de> Deserialize<'de> for Pos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let [x, y] = <[u32; 2]>::deserialize(d)?;
        Ok(Pos { x, y })
    }
}

/// Checks a grid size: each side in `1..=MAX_SIDE` and at least `min_cells` cells.
pub(crate) fn check_size(width: i64, height: i64, min_cells: i64) -> Result<(u32, u32)> {
    let max = MAX_SIDE as i64;
    if width < 1 || height < 1 {
        return Err(Error::GridSize {
            width,
            height,
            reason: "width and height must be at least 1",
        });
    }
    if width > max || height > max {
        return Err(Error::GridSize {
            width,
            height,
            reason: "width and height must be at most 100 (MAX_SIDE)",
        });
    }
    if width * height < min_cells {
        return Err(Error::GridSize {
            width,
            height,
            reason: "too few cells for the objects the task needs",
        });
    }
    Ok((width as u32, height as u32))
}

/// Checks a raw `[x, y]` against the grid.
pub(crate) fn check_pos(what: &'static str, raw: [i64; 2], width: u32, height: u32) -> Result<Pos> {
    let [x, y] = raw;
    if x < 0 || y < 0 || x >= width as i64 || y >= height as i64 {
        return Err(Error::OutOfBounds {
            what,
            x,
            y,
            width,
            height,
        });
    }
    Ok(Pos::new(x as u32, y as u32))
}
