//! Shared drawing helpers: colours, popup geometry, small formatters, and the table
//! navigation every list screen uses. No state about screens or the backend lives here.

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::TableState;

/// Accent for keys, focused fields and the active tab.
pub const ACCENT: Color = Color::Cyan;
/// Healthy state.
pub const OK: Color = Color::Green;
/// Attention.
pub const WARN: Color = Color::Yellow;
/// Failure or destructive.
pub const BAD: Color = Color::Red;
/// Secondary text.
pub const DIM: Color = Color::DarkGray;

/// Style of labels in key/value blocks.
pub fn label_style() -> Style {
    Style::new().fg(DIM)
}

/// Style of the selected table row.
pub fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Style of a table header.
pub fn header_style() -> Style {
    Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)
}

/// A `label  value` line with the label padded to `width`.
pub fn kv<'a>(label: &'a str, width: usize, value: Span<'a>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<width$}"), label_style()),
        value,
    ])
}

/// A rect of at most `width` x `height` centred in `area`, never larger than `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Human byte size (KiB steps), e.g. `12.3 MB`.
pub fn fmt_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Rows a greedy word wrap of `text` at `width` columns takes (what `Wrap { trim: true }`
/// does for single-spaced text); a word longer than the width takes several rows.
pub fn wrapped_rows(text: &str, width: usize) -> usize {
    let mut rows = 1;
    let mut line = 0usize;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let w = word.chars().count();
        if line == 0 {
            line = w;
        } else if line + 1 + w <= width {
            line += 1 + w;
        } else {
            rows += 1;
            line = w;
        }
        while line > width {
            rows += 1;
            line -= width;
        }
    }
    rows
}

/// Selection and hit-testing for a bordered table with a one-line header.
#[derive(Debug, Default)]
pub struct TableNav {
    /// Ratatui's table state (selection and scroll offset).
    pub state: TableState,
    /// Rows in the table.
    len: usize,
    /// Where the table was last drawn, for mouse hits.
    area: Rect,
}

impl TableNav {
    /// Sets the row count after a reload and keeps the selection in range.
    pub fn set_len(&mut self, len: usize) {
        self.len = len;
        if len == 0 {
            self.state.select(None);
        } else {
            let sel = self.state.selected().unwrap_or(0).min(len - 1);
            self.state.select(Some(sel));
        }
    }

    /// Index of the selected row, if any.
    pub fn selected(&self) -> Option<usize> {
        self.state.selected().filter(|i| *i < self.len)
    }

    /// Records the drawn area (call from `draw`).
    pub fn set_area(&mut self, area: Rect) {
        self.area = area;
    }

    fn move_by(&mut self, delta: isize) {
        if self.len == 0 {
            return;
        }
        let cur = self.state.selected().unwrap_or(0) as isize;
        let next = (cur + delta).clamp(0, self.len as isize - 1);
        self.state.select(Some(next as usize));
    }

    /// Handles movement keys; returns whether the key was used.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        let page = self.area.height.saturating_sub(3).max(1) as isize;
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX / 2),
            _ => return false,
        }
        true
    }

    /// Handles clicks on rows and the scroll wheel; returns whether the event was used.
    pub fn handle_mouse(&mut self, mouse: MouseEvent) -> bool {
        let pos = Position::new(mouse.column, mouse.row);
        if !self.area.contains(pos) {
            return false;
        }
        match mouse.kind {
            MouseEventKind::ScrollUp => self.move_by(-1),
            MouseEventKind::ScrollDown => self.move_by(1),
            MouseEventKind::Down(MouseButton::Left) => {
                // Border line + header line precede the first row.
                let first_row = self.area.y + 2;
                if mouse.row < first_row || mouse.row >= self.area.bottom().saturating_sub(1) {
                    return false;
                }
                let index = self.state.offset() + usize::from(mouse.row - first_row);
                if index < self.len {
                    self.state.select(Some(index));
                }
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centered_never_exceeds_area() {
        let area = Rect::new(0, 0, 20, 5);
        let r = centered(area, 60, 12);
        assert_eq!(r, Rect::new(0, 0, 20, 5));
        let r = centered(Rect::new(2, 3, 40, 20), 10, 4);
        assert_eq!(r, Rect::new(17, 11, 10, 4));
    }

    #[test]
    fn wrapped_rows_follow_word_wrap() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("one two three", 13), 1);
        assert_eq!(wrapped_rows("one two three", 12), 2);
        assert_eq!(wrapped_rows("abcdefghijklmnopqrstuvwxy", 10), 3);
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(12 * 1024 * 1024 + 300 * 1024), "12.3 MB");
    }
}
