//! Paging of the lists that grow with the data (assertions, findings, verification runs):
//! a `limit` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]) and an opaque keyset
//! `cursor` naming the last item of the previous page. Pages are read from SQL with
//! `LIMIT`, so a request holds at most one page, whatever the size of the list; walking the
//! pages returns every item exactly once, in a stable order, even while items are added
//! (new ones sort last) or deleted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{Result, invalid};

/// Items per page when no `limit` is given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u32 = 500;

/// `limit` and `cursor` of a list request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// Items per page, 1 to [`MAX_LIMIT`].
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items matching the filters, on all pages.
    pub total: u64,
    /// The limit used.
    pub limit: u32,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The position after which a page starts: the sort key of the last item shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// Primary sort key (a timestamp).
    pub at: String,
    /// Tie-breaker (an id or a rowid), unique within the list.
    pub key: String,
}

/// Parsed paging request.
#[derive(Debug, Clone)]
pub struct Window {
    /// Items per page.
    pub limit: u32,
    /// Start after this position; `None` for the first page.
    pub after: Option<After>,
}

impl PageQuery {
    /// Validates limit and cursor; errors name the parameter.
    pub fn window(&self) -> Result<Window> {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(n) => {
                return Err(invalid(
                    "limit",
                    format!("must be 1 to {MAX_LIMIT} (got {n}); follow next_cursor for more"),
                ));
            }
        };
        let after = match self.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(decode(c).ok_or_else(|| {
                invalid(
                    "cursor",
                    "not a cursor of this list; pass the next_cursor of the previous page unchanged",
                )
            })?),
        };
        Ok(Window { limit, after })
    }
}

const VERSION: &str = "1";

/// The opaque cursor of a position.
pub fn encode(after: &After) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}\n{}\n{}", after.at, after.key))
}

fn decode(cursor: &str) -> Option<After> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '\n');
    if parts.next()? != VERSION {
        return None;
    }
    let at = parts.next()?.to_string();
    let key = parts.next()?.to_string();
    if at.is_empty() || key.is_empty() {
        return None;
    }
    Some(After { at, key })
}

impl Window {
    /// SQL `LIMIT` that also tells whether a next page exists (one more than shown).
    pub fn fetch(&self) -> u32 {
        self.limit + 1
    }

    /// Cuts the fetched rows to the page and computes the next cursor from the last item.
    pub fn page<T>(&self, mut rows: Vec<T>, total: u64, key: impl Fn(&T) -> After) -> Paged<T> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode(&key(r)))
        } else {
            None
        };
        Paged {
            items: rows,
            total,
            limit: self.limit,
            next_cursor,
        }
    }

    /// `(at, key)` of the cursor as SQL parameters (both `NULL` on the first page).
    pub fn after_params(&self) -> (Option<&str>, Option<&str>) {
        match &self.after {
            Some(a) => (Some(a.at.as_str()), Some(a.key.as_str())),
            None => (None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let a = After {
            at: "2026-01-01T00:00:00.000Z".into(),
            key: "fnd_01".into(),
        };
        let q = PageQuery {
            limit: Some(5),
            cursor: Some(encode(&a)),
        };
        let w = q.window().unwrap();
        assert_eq!(w.after, Some(a));
        assert_eq!(w.limit, 5);
        for bad in ["x", "!!", "MQ", &URL_SAFE_NO_PAD.encode("2\na\nb")] {
            let q = PageQuery {
                limit: None,
                cursor: Some(bad.to_string()),
            };
            assert!(q.window().is_err(), "{bad}");
        }
        for bad in [0, MAX_LIMIT + 1] {
            let q = PageQuery {
                limit: Some(bad),
                cursor: None,
            };
            assert!(q.window().is_err(), "{bad}");
        }
        assert_eq!(PageQuery::default().window().unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn page_cuts_and_points_at_the_last_item() {
        let w = PageQuery {
            limit: Some(2),
            cursor: None,
        }
        .window()
        .unwrap();
        let key = |s: &&str| After {
            at: "t".into(),
            key: (*s).to_string(),
        };
        let p = w.page(vec!["a", "b", "c"], 3, key);
        assert_eq!(p.items, vec!["a", "b"]);
        assert_eq!(decode(p.next_cursor.as_deref().unwrap()).unwrap().key, "b");
        let p = w.page(vec!["a", "b"], 2, key);
        assert!(p.next_cursor.is_none());
    }
}
