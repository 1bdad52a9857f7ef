//! Shared bits of terminal output.

use anstyle::{AnsiColor, Style};

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const NAME: Style = Style::new().bold();
pub const DIM: Style = Style::new().dimmed();
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();

/// `warning: MESSAGE` on stderr.
pub fn warn(message: &str) {
    anstream::eprintln!("{}warning:{} {message}", WARN.render(), WARN.render_reset());
}

/// Print JSON to stdout.
pub fn json<T: serde::Serialize>(value: &T) -> Result<(), super::CliError> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Left-aligned columns.
pub fn table(rows: &[Vec<String>]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// `1.2 MiB`, `3.4 KiB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else if bytes >= 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}
