//! Colours shared by the SVG and HTML views.

/// Ramp used to shade cells by close order, first (index 0) to last
/// (ColorBrewer YlGnBu, without its darkest stops so plan lines stay visible).
pub const RAMP: [&str; 7] = [
    "#ffffd9", "#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8",
];

/// Plan line colour.
pub const PLAN: &str = "#212121";
/// Invalid plan steps.
pub const INVALID: &str = "#e53935";
/// Created but never closed (outline).
pub const CREATED: &str = "#fb8c00";
/// Walls.
pub const WALL: &str = "#424242";
/// Free floor.
pub const FLOOR: &str = "#ffffff";
/// Grid lines.
pub const GRID: &str = "#d0d0d0";
/// Start / worker.
pub const START: &str = "#2e7d32";
/// Maze goal.
pub const GOAL: &str = "#8e24aa";
/// Sokoban box.
pub const BOX: &str = "#a1662f";
/// Sokoban box on a dock.
pub const BOX_DOCKED: &str = "#e0a800";
/// Sokoban dock outline.
pub const DOCK: &str = "#8e24aa";

fn parse_hex(s: &str) -> [u8; 3] {
    let v = u32::from_str_radix(s.trim_start_matches('#'), 16).unwrap_or(0);
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Colour at `t ∈ [0, 1]` on [`RAMP`] (linear in RGB between stops), as
/// `#rrggbb`. Values outside the range are clamped; NaN maps to 0.
pub fn ramp(t: f64) -> String {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let seg = t * (RAMP.len() - 1) as f64;
    let i = (seg.floor() as usize).min(RAMP.len() - 2);
    let f = seg - i as f64;
    let (a, b) = (parse_hex(RAMP[i]), parse_hex(RAMP[i + 1]));
    let mix = |k: usize| (a[k] as f64 + (b[k] as f64 - a[k] as f64) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(0), mix(1), mix(2))
}

/// Colour of the `rank`-th of `n` closed cells.
pub fn ramp_rank(rank: usize, n: usize) -> String {
    if n <= 1 {
        ramp(0.0)
    } else {
        ramp(rank as f64 / (n - 1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_hits_stops_and_midpoints() {
        assert_eq!(ramp(0.0), RAMP[0]);
        assert_eq!(ramp(1.0), RAMP[6]);
        assert_eq!(ramp(0.5), RAMP[3]);
        assert_eq!(ramp(-3.0), RAMP[0]);
        assert_eq!(ramp(f64::NAN), RAMP[0]);
        // 0.25·6 = 1.5: halfway between #edf8b1 and #c7e9b4:
        // (237+199)/2 = 218, (248+233)/2 = 240.5 → 241, (177+180)/2 = 178.5 → 179.
        assert_eq!(ramp(0.25), "#daf1b3");
        assert_eq!(ramp_rank(0, 1), RAMP[0]);
        assert_eq!(ramp_rank(2, 3), RAMP[6]);
    }
}
