//! A one-line text input (optionally masked) used by form popups. Owns editing and the
//! cursor; knows nothing about what the text means.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Editable single-line text with a cursor counted in characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    value: String,
    cursor: usize,
    masked: bool,
}

impl TextInput {
    /// An input prefilled with `value`, cursor at the end.
    pub fn new(value: &str, masked: bool) -> Self {
        Self {
            value: value.to_owned(),
            cursor: value.chars().count(),
            masked,
        }
    }

    /// Current text.
    pub fn value(&self) -> &str {
        &self.value
    }

    fn byte_index(&self, char_index: usize) -> usize {
        self.value
            .char_indices()
            .nth(char_index)
            .map_or(self.value.len(), |(i, _)| i)
    }

    /// Inserts pasted text at the cursor; line breaks become nothing (one-line input).
    pub fn insert_str(&mut self, text: &str) {
        for c in text.chars().filter(|c| !c.is_control()) {
            let at = self.byte_index(self.cursor);
            self.value.insert(at, c);
            self.cursor += 1;
        }
    }

    /// Applies an editing key; returns whether it was used.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        let len = self.value.chars().count();
        match key.code {
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.value.clear();
                self.cursor = 0;
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                let at = self.byte_index(self.cursor);
                self.value.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte_index(self.cursor);
                self.value.remove(at);
            }
            KeyCode::Delete if self.cursor < len => {
                let at = self.byte_index(self.cursor);
                self.value.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(len),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = len,
            KeyCode::Backspace | KeyCode::Delete => {}
            _ => return false,
        }
        true
    }

    /// Text to draw in `width` columns and the cursor column within it. Masked inputs show
    /// one bullet per character; long text scrolls so the cursor stays visible.
    pub fn visible(&self, width: usize) -> (String, usize) {
        let chars: Vec<char> = if self.masked {
            vec!['•'; self.value.chars().count()]
        } else {
            self.value.chars().collect()
        };
        if width == 0 {
            return (String::new(), 0);
        }
        let start = self.cursor.saturating_sub(width - 1);
        let shown: String = chars.iter().skip(start).take(width).collect();
        (shown, self.cursor - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn edits_at_cursor_with_multibyte_text() {
        let mut input = TextInput::new("hé", false);
        input.handle_key(key(KeyCode::Left));
        input.handle_key(key(KeyCode::Char('x')));
        assert_eq!(input.value(), "hxé");
        input.handle_key(key(KeyCode::Backspace));
        input.handle_key(key(KeyCode::Delete));
        assert_eq!(input.value(), "h");
    }

    #[test]
    fn masked_input_hides_text_and_scrolls() {
        let input = TextInput::new("secret123", true);
        let (shown, cursor) = input.visible(4);
        assert_eq!(shown, "•••");
        assert_eq!(cursor, 3);
        let (plain, _) = TextInput::new("abcdef", false).visible(3);
        assert_eq!(plain, "ef");
    }
}
