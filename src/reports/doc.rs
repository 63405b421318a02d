//! A small document model both report renderers share: the HTML and the PDF of a report are
//! drawn from the same [`Doc`], so they cannot disagree about what the report says.
//!
//! Pure data: building a `Doc` does no I/O and renders nothing.

use crate::web::pages::models::diagram::Diagram;

/// One cell of a table: text, optionally monospace (ids, hashes, commands).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The text (unescaped).
    pub text: String,
    /// Draw in the monospace font.
    pub mono: bool,
}

impl Cell {
    /// Proportional text.
    pub fn text(s: impl Into<String>) -> Self {
        Self {
            text: s.into(),
            mono: false,
        }
    }

    /// Monospace text (identifiers, hashes).
    pub fn mono(s: impl Into<String>) -> Self {
        Self {
            text: s.into(),
            mono: true,
        }
    }
}

/// A table column: its heading and its relative width.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Heading.
    pub title: String,
    /// Share of the table width (relative to the other columns).
    pub weight: f32,
}

/// A block of the report body.
#[derive(Debug, Clone)]
pub enum Block {
    /// A heading. Level 1 starts a section (a table-of-contents entry and a PDF bookmark);
    /// level 2 is a subsection (listed indented in the table of contents).
    Heading {
        /// 1 or 2.
        level: u8,
        /// Text.
        text: String,
        /// Anchor id (HTML) / bookmark key.
        anchor: String,
    },
    /// A paragraph of running text.
    Para(String),
    /// Smaller, muted text (explanations, empty states).
    Note(String),
    /// Label/value pairs (the report's facts: version, dates, counts).
    Facts(Vec<(String, String)>),
    /// A table with a header row.
    Table {
        /// Columns.
        columns: Vec<Column>,
        /// Rows of cells, one per column.
        rows: Vec<Vec<Cell>>,
    },
    /// Preformatted monospace text (shell commands, PEM keys).
    Code(String),
    /// The trust-boundary diagram of the model page.
    Diagram(Box<Diagram>),
}

/// A whole report.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Document title (the model's title with the report name).
    pub title: String,
    /// Line under the title (which report).
    pub subtitle: String,
    /// Facts shown on the title page.
    pub cover: Vec<(String, String)>,
    /// The body.
    pub blocks: Vec<Block>,
}

impl Doc {
    /// Starts a document.
    pub fn new(title: impl Into<String>, subtitle: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            subtitle: subtitle.into(),
            cover: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// Adds a section heading (level 1) with a stable anchor.
    pub fn section(&mut self, anchor: &str, text: impl Into<String>) {
        self.blocks.push(Block::Heading {
            level: 1,
            text: text.into(),
            anchor: anchor.to_string(),
        });
    }

    /// Adds a subsection heading (level 2).
    pub fn subsection(&mut self, anchor: &str, text: impl Into<String>) {
        self.blocks.push(Block::Heading {
            level: 2,
            text: text.into(),
            anchor: anchor.to_string(),
        });
    }

    /// Adds a paragraph (skipped when empty).
    pub fn para(&mut self, text: impl Into<String>) {
        let t = text.into();
        if !t.trim().is_empty() {
            self.blocks.push(Block::Para(t));
        }
    }

    /// Adds a muted note.
    pub fn note(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Note(text.into()));
    }

    /// Adds a table; an empty one becomes the note `empty` instead.
    pub fn table(&mut self, columns: &[(&str, f32)], rows: Vec<Vec<Cell>>, empty: &str) {
        if rows.is_empty() {
            self.note(empty);
            return;
        }
        self.blocks.push(Block::Table {
            columns: columns
                .iter()
                .map(|(t, w)| Column {
                    title: (*t).to_string(),
                    weight: *w,
                })
                .collect(),
            rows,
        });
    }

    /// The table of contents: (level, text, anchor) of every heading, in order.
    pub fn toc(&self) -> Vec<(u8, &str, &str)> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading {
                    level,
                    text,
                    anchor,
                } => Some((*level, text.as_str(), anchor.as_str())),
                _ => None,
            })
            .collect()
    }
}
