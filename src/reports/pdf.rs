//! PDF rendering of a report [`Doc`], in-process with krilla (docs/decisions.md "Reports and
//! exports" says why krilla): A4 pages, the embedded Liberation fonts (SIL OFL 1.1, subset
//! into each file, so the text is selectable and searchable), a table of contents with page
//! numbers and links, PDF bookmarks, "Page N of M" footers, tables whose header row repeats
//! on every page, and the model page's trust-boundary diagram drawn as vector graphics on a
//! landscape page.
//!
//! Layout is a small two-pass engine: the body is laid out first (recording the page of
//! each heading), then the table of contents is filled in and every page is drawn. The
//! output is deterministic: the same document gives the same bytes (no creation date or
//! random id is written).

use std::sync::OnceLock;

use krilla::annotation::{Annotation, LinkAnnotation, Target};
use krilla::color::rgb;
use krilla::destination::{Destination, XyzDestination};
use krilla::geom::{PathBuilder, Point, Rect as KRect};
use krilla::metadata::Metadata;
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke, StrokeDash};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider as _;
use skrifa::raw::TableProvider as _;

use super::doc::{Block, Cell, Doc};
use crate::web::pages::models::diagram::{self, Diagram, Lane};

const REGULAR: &[u8] = include_bytes!("../../assets/fonts/LiberationSans-Regular.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/fonts/LiberationSans-Bold.ttf");
const MONO: &[u8] = include_bytes!("../../assets/fonts/LiberationMono-Regular.ttf");

const A4_W: f32 = 595.28;
const A4_H: f32 = 841.89;
const MARGIN: f32 = 50.0;
const FOOTER_Y: f32 = 28.0;
const BODY: f32 = 10.0;
const CELL: f32 = 8.0;
const CELL_MONO: f32 = 7.4;
const CODE: f32 = 7.2;
const PAD: f32 = 3.0;

/// Which embedded face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Face {
    Regular,
    Bold,
    Mono,
}

/// Advance widths of one face, for line breaking.
struct Metrics {
    upem: f32,
    ascii: [f32; 128],
    data: &'static [u8],
}

impl Metrics {
    fn load(data: &'static [u8]) -> Self {
        let mut m = Metrics {
            upem: 1000.0,
            ascii: [0.0; 128],
            data,
        };
        if let Ok(f) = skrifa::FontRef::new(data) {
            m.upem = f32::from(f.head().map(|h| h.units_per_em()).unwrap_or(1000));
            for c in 0u8..128 {
                m.ascii[c as usize] = m.slow(c as char).unwrap_or(0.0);
            }
        }
        m
    }

    fn slow(&self, c: char) -> Option<f32> {
        let f = skrifa::FontRef::new(self.data).ok()?;
        let gid = f.charmap().map(c)?;
        f.glyph_metrics(
            skrifa::instance::Size::unscaled(),
            skrifa::instance::LocationRef::default(),
        )
        .advance_width(gid)
    }

    fn has(&self, c: char) -> bool {
        (c as u32) < 128 || self.slow(c).is_some()
    }

    /// Width of `text` at `size` points (no kerning: a slight overestimate keeps lines inside).
    fn width(&self, text: &str, size: f32) -> f32 {
        let units: f32 = text
            .chars()
            .map(|c| {
                if (c as u32) < 128 {
                    self.ascii[c as usize]
                } else {
                    self.slow(c).unwrap_or(self.ascii[b'?' as usize])
                }
            })
            .sum();
        units / self.upem * size
    }
}

struct Fonts {
    regular: Font,
    bold: Font,
    mono: Font,
    m_regular: Metrics,
    m_bold: Metrics,
    m_mono: Metrics,
}

fn fonts() -> Option<&'static Fonts> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Some(Fonts {
                regular: Font::new(REGULAR.into(), 0)?,
                bold: Font::new(BOLD.into(), 0)?,
                mono: Font::new(MONO.into(), 0)?,
                m_regular: Metrics::load(REGULAR),
                m_bold: Metrics::load(BOLD),
                m_mono: Metrics::load(MONO),
            })
        })
        .as_ref()
}

impl Fonts {
    fn metrics(&self, f: Face) -> &Metrics {
        match f {
            Face::Regular => &self.m_regular,
            Face::Bold => &self.m_bold,
            Face::Mono => &self.m_mono,
        }
    }

    fn font(&self, f: Face) -> Font {
        match f {
            Face::Regular => self.regular.clone(),
            Face::Bold => self.bold.clone(),
            Face::Mono => self.mono.clone(),
        }
    }

    /// Text as drawn: characters the face lacks become close ASCII (or `?`), so nothing
    /// turns into an invisible box.
    fn printable(&self, f: Face, s: &str) -> String {
        let m = self.metrics(f);
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '\t' => out.push_str("    "),
                c if c.is_control() => out.push(' '),
                c if m.has(c) => out.push(c),
                '↔' => out.push_str("<->"),
                '→' => out.push_str("->"),
                '…' => out.push_str("..."),
                _ => out.push('?'),
            }
        }
        out
    }

    /// Greedy line breaking at spaces; words wider than the line are broken anywhere.
    /// Explicit newlines start new lines.
    fn wrap(&self, f: Face, size: f32, text: &str, max: f32) -> Vec<String> {
        let m = self.metrics(f);
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let para = self.printable(f, para);
            let mut line = String::new();
            for word in para.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if m.width(&candidate, size) <= max {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // The word alone; break it if it is still too wide.
                let mut piece = String::new();
                for c in word.chars() {
                    piece.push(c);
                    if m.width(&piece, size) > max && piece.chars().count() > 1 {
                        piece.pop();
                        lines.push(std::mem::take(&mut piece));
                        piece.push(c);
                    }
                }
                line = piece;
            }
            lines.push(line);
        }
        lines
    }
}

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rgb(u8, u8, u8);

const INK: Rgb = Rgb(0x0f, 0x17, 0x2a);
const MUTED: Rgb = Rgb(0x47, 0x55, 0x69);
const RULE: Rgb = Rgb(0xcb, 0xd5, 0xe1);
const ACCENT: Rgb = Rgb(0x1d, 0x4e, 0xd8);
const HEAD_BG: Rgb = Rgb(0xef, 0xf6, 0xff);
const CODE_BG: Rgb = Rgb(0xf8, 0xfa, 0xfc);

fn hex(s: &str) -> Rgb {
    let v = u32::from_str_radix(s.trim_start_matches('#'), 16).unwrap_or(0);
    Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// A drawing operation on one page (points, origin top-left).
#[derive(Debug, Clone)]
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        face: Face,
        color: Rgb,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        radius: f32,
        fill: Option<Rgb>,
        stroke: Option<(Rgb, f32, Option<Vec<f32>>)>,
    },
    Line {
        from: (f32, f32),
        to: (f32, f32),
        color: Rgb,
        width: f32,
        opacity: f32,
    },
    Triangle {
        points: [(f32, f32); 3],
        color: Rgb,
    },
    /// Clip what follows to a rectangle, until the matching `Unclip`.
    Clip {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
    /// Ends the last `Clip`.
    Unclip,
    /// A link from a table-of-contents line to a heading.
    Link {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        heading: usize,
    },
}

struct PageBuf {
    w: f32,
    h: f32,
    ops: Vec<Op>,
}

/// Where a heading landed.
#[derive(Debug, Clone)]
struct Placed {
    level: u8,
    text: String,
    page: usize,
    y: f32,
}

struct Layout<'f> {
    f: &'f Fonts,
    pages: Vec<PageBuf>,
    y: f32,
    headings: Vec<Placed>,
}

impl<'f> Layout<'f> {
    fn page(&mut self) -> &mut PageBuf {
        if self.pages.is_empty() {
            self.new_page(A4_W, A4_H);
        }
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    fn new_page(&mut self, w: f32, h: f32) {
        self.pages.push(PageBuf {
            w,
            h,
            ops: Vec::new(),
        });
        self.y = MARGIN;
    }

    fn portrait(&self) -> bool {
        self.pages.last().is_none_or(|p| p.w < p.h)
    }

    fn bottom(&self) -> f32 {
        self.pages.last().map_or(A4_H, |p| p.h) - MARGIN - 12.0
    }

    fn width(&self) -> f32 {
        self.pages.last().map_or(A4_W, |p| p.w) - 2.0 * MARGIN
    }

    /// Starts a new portrait page unless `need` points still fit on this one.
    fn ensure(&mut self, need: f32) {
        if !self.portrait() || self.y + need > self.bottom() {
            self.new_page(A4_W, A4_H);
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, face: Face, color: Rgb, text: String) {
        self.page().ops.push(Op::Text {
            x,
            y,
            size,
            face,
            color,
            text,
        });
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, fill: Option<Rgb>, stroke: Option<Rgb>) {
        self.page().ops.push(Op::Rect {
            x,
            y,
            w,
            h,
            radius: 0.0,
            fill,
            stroke: stroke.map(|c| (c, 0.5, None)),
        });
    }

    fn para(&mut self, text: &str, size: f32, face: Face, color: Rgb) {
        let lh = size * 1.35;
        let lines = self.f.wrap(face, size, text, self.width());
        for l in lines {
            self.ensure(lh);
            self.y += size;
            self.text(MARGIN, self.y, size, face, color, l);
            self.y += lh - size;
        }
        self.y += size * 0.5;
    }

    fn heading(&mut self, level: u8, text: &str) {
        let size = if level <= 1 { 15.0 } else { 11.5 };
        // Keep a heading with at least a few lines of what follows (a landscape page is only
        // ever started for the diagram that follows its heading).
        if self.portrait() {
            self.ensure(size * 2.0 + 60.0);
        }
        self.y += if level <= 1 { 14.0 } else { 8.0 };
        let page = self.pages.len() - 1;
        self.headings.push(Placed {
            level,
            text: text.to_string(),
            page,
            y: self.y,
        });
        let lines = self.f.wrap(Face::Bold, size, text, self.width());
        for l in lines {
            self.y += size;
            self.text(MARGIN, self.y, size, Face::Bold, INK, l);
            self.y += size * 0.3;
        }
        if level <= 1 {
            let w = self.width();
            let y = self.y + 2.0;
            self.page().ops.push(Op::Line {
                from: (MARGIN, y),
                to: (MARGIN + w, y),
                color: RULE,
                width: 0.8,
                opacity: 1.0,
            });
            self.y += 8.0;
        } else {
            self.y += 4.0;
        }
    }

    fn facts(&mut self, facts: &[(String, String)]) {
        let label_w = 150.0;
        let value_w = self.width() - label_w - 8.0;
        let lh = BODY * 1.3;
        for (k, v) in facts {
            let face = if v.len() > 40 && !v.contains(' ') {
                Face::Mono
            } else {
                Face::Regular
            };
            let size = if face == Face::Mono { CELL_MONO } else { BODY };
            let lines = self.f.wrap(face, size, v, value_w);
            self.ensure(lh * lines.len().clamp(1, 6) as f32);
            let top = self.y;
            let label = self.f.printable(Face::Regular, k);
            self.text(MARGIN, top + BODY, BODY, Face::Regular, MUTED, label);
            let n = lines.len().max(1);
            for (i, l) in lines.into_iter().enumerate() {
                self.text(
                    MARGIN + label_w + 8.0,
                    top + BODY + i as f32 * lh,
                    size,
                    face,
                    INK,
                    l,
                );
            }
            self.y = top + n as f32 * lh;
        }
        self.y += 6.0;
    }

    fn code(&mut self, text: &str) {
        let lh = CODE * 1.3;
        let w = self.width();
        let lines = self.f.wrap(Face::Mono, CODE, text, w - 2.0 * 6.0);
        let mut i = 0;
        while i < lines.len() {
            self.ensure(lh + 12.0);
            let fit = (((self.bottom() - self.y - 12.0) / lh).floor() as usize).max(1);
            let chunk = &lines[i..(i + fit).min(lines.len())];
            let h = chunk.len() as f32 * lh + 10.0;
            let top = self.y;
            self.rect(MARGIN, top, w, h, Some(CODE_BG), Some(RULE));
            let mut y = top + 5.0;
            for l in chunk {
                y += lh;
                self.text(
                    MARGIN + 6.0,
                    y - (lh - CODE) - 1.0,
                    CODE,
                    Face::Mono,
                    INK,
                    l.clone(),
                );
            }
            self.y = top + h;
            i += chunk.len();
        }
        self.y += 8.0;
    }

    fn table(&mut self, columns: &[super::doc::Column], rows: &[Vec<Cell>]) {
        let total: f32 = columns.iter().map(|c| c.weight).sum::<f32>().max(0.01);
        let width = self.width();
        let widths: Vec<f32> = columns.iter().map(|c| c.weight / total * width).collect();
        let lh = CELL * 1.25;
        let header: Vec<Vec<String>> = columns
            .iter()
            .zip(&widths)
            .map(|(c, w)| self.f.wrap(Face::Bold, CELL, &c.title, w - 2.0 * PAD))
            .collect();
        let header_h = header.iter().map(Vec::len).max().unwrap_or(1) as f32 * lh + 2.0 * PAD;
        let draw_header = |l: &mut Layout<'_>| {
            let mut x = MARGIN;
            let top = l.y;
            for (lines, w) in header.iter().zip(&widths) {
                l.rect(x, top, *w, header_h, Some(HEAD_BG), Some(RULE));
                let mut y = top + PAD;
                for t in lines {
                    y += lh;
                    l.text(
                        x + PAD,
                        y - (lh - CELL) - 0.5,
                        CELL,
                        Face::Bold,
                        INK,
                        t.clone(),
                    );
                }
                x += w;
            }
            l.y = top + header_h;
        };
        self.ensure(header_h + lh * 2.0 + 2.0 * PAD);
        draw_header(self);
        for row in rows {
            let cells: Vec<(Face, f32, Vec<String>)> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| {
                    let (face, size) = if c.mono {
                        (Face::Mono, CELL_MONO)
                    } else {
                        (Face::Regular, CELL)
                    };
                    (face, size, self.f.wrap(face, size, &c.text, w - 2.0 * PAD))
                })
                .collect();
            let mut done = 0usize;
            let most = cells.iter().map(|c| c.2.len()).max().unwrap_or(1).max(1);
            while done < most {
                let mut fit = ((self.bottom() - self.y - 2.0 * PAD) / lh).floor() as usize;
                // Do not start a row with a sliver at the bottom of a page.
                if fit < 1 || (done == 0 && fit < most.min(3)) {
                    self.new_page(A4_W, A4_H);
                    draw_header(self);
                    fit = (((self.bottom() - self.y - 2.0 * PAD) / lh).floor() as usize).max(1);
                }
                let take = fit.min(most - done);
                let h = take as f32 * lh + 2.0 * PAD;
                let top = self.y;
                let mut x = MARGIN;
                for ((face, size, lines), w) in cells.iter().zip(&widths) {
                    self.rect(x, top, *w, h, None, Some(RULE));
                    let mut y = top + PAD;
                    for t in lines.iter().skip(done).take(take) {
                        y += lh;
                        self.text(x + PAD, y - (lh - size) - 0.5, *size, *face, INK, t.clone());
                    }
                    x += w;
                }
                self.y = top + h;
                done += take;
            }
        }
        self.y += 10.0;
    }

    /// The diagram on landscape pages (the first is the current one when its heading was just
    /// put there). A diagram that fits one page at a readable scale is drawn whole, centred;
    /// a taller one (a large model) is drawn at the page width and continued on further
    /// landscape pages, cut between boxes where it can be, each part clipped to its page.
    /// The diagram's text summary follows on a portrait page.
    fn diagram(&mut self, d: &Diagram) {
        let (pw, ph) = (A4_H, A4_W);
        if self.portrait() {
            self.new_page(pw, ph);
        }
        let f = self.f;
        let avail_w = pw - 2.0 * MARGIN;
        let dw = diagram::WIDTH as f32;
        let dh = d.height.max(1) as f32;
        let fits = (avail_w / dw).min((self.bottom() - self.y) / dh);
        if fits >= MIN_DIAGRAM_SCALE {
            let ox = MARGIN + (avail_w - dw * fits) / 2.0;
            let oy = self.y;
            let ops = diagram_ops(f, d, ox, oy, fits);
            self.page().ops.extend(ops);
            self.y = oy + dh * fits;
        } else {
            let s = avail_w / dw;
            let mut d0 = 0.0f32;
            loop {
                let window = (self.bottom() - self.y) / s;
                let d1 = if d0 + window >= dh {
                    dh
                } else {
                    cut_at(d, d0, d0 + window)
                };
                let top = self.y;
                let h = (d1 - d0) * s;
                let ops = diagram_ops(f, d, MARGIN, top - d0 * s, s);
                let page = self.page();
                page.ops.push(Op::Clip {
                    x: MARGIN - 2.0,
                    y: top,
                    w: avail_w + 4.0,
                    h,
                });
                // Shapes are clipped; a label belongs to the part its line is in.
                page.ops.extend(ops.into_iter().filter(|op| match op {
                    Op::Text { y, size, .. } => {
                        *y - size * 0.75 >= top - 0.5 && *y <= top + h + 0.5
                    }
                    _ => true,
                }));
                page.ops.push(Op::Unclip);
                self.y = top + h;
                if d1 >= dh {
                    break;
                }
                self.new_page(pw, ph);
                let y = self.y + 9.0;
                self.text(
                    MARGIN,
                    y,
                    9.0,
                    Face::Regular,
                    MUTED,
                    "Trust-boundary diagram, continued".into(),
                );
                self.y += 16.0;
                d0 = d1;
            }
        }
        let summary = d.summary.clone();
        self.new_page(A4_W, A4_H);
        self.para(&summary, 7.5, Face::Regular, MUTED);
    }
}

/// The smallest scale at which the diagram is drawn whole on one page (its 12-unit labels
/// become 5.4 pt); below it the diagram is continued over several pages.
const MIN_DIAGRAM_SCALE: f32 = 0.45;

/// Where to end the part of the diagram that starts at `from` and may reach `limit` (diagram
/// units): the lowest point in the second half of that window that cuts through no
/// boundary box or attacker, else `limit`.
fn cut_at(d: &Diagram, from: f32, limit: f32) -> f32 {
    let rects: Vec<(f32, f32)> = d
        .boxes
        .iter()
        .map(|b| b.rect)
        .chain(d.attackers.iter().map(|a| a.rect))
        .map(|r| (r.y as f32, (r.y + r.h) as f32))
        .collect();
    let free = |y: f32| rects.iter().all(|(a, b)| y <= *a || y >= *b);
    let lowest = from + (limit - from) / 2.0;
    rects
        .iter()
        .flat_map(|(a, b)| [*a - 4.0, *b + 4.0])
        .filter(|y| *y > lowest && *y <= limit && free(*y))
        .fold(None, |best: Option<f32>, y| {
            Some(best.map_or(y, |b| b.max(y)))
        })
        .unwrap_or(limit)
}

/// The model page's diagram as PDF drawing operations: the same boxes, lanes, arrows and
/// (clipped) labels as `Diagram::to_svg`, scaled by `s` and moved to (`ox`, `oy`).
fn diagram_ops(f: &Fonts, d: &Diagram, ox: f32, oy: f32, s: f32) -> Vec<Op> {
    let mut ops = Vec::new();
    let x = |v: u32| ox + v as f32 * s;
    let y = |v: u32| oy + v as f32 * s;
    let fs = 12.0 * s;
    let text =
        |ops: &mut Vec<Op>, px: u32, py: u32, size: f32, face: Face, color: &str, t: &str| {
            ops.push(Op::Text {
                x: x(px),
                y: y(py),
                size,
                face,
                color: hex(color),
                text: f.printable(face, t),
            });
        };
    let top = 16;
    text(&mut ops, 16, top + 20, fs, Face::Bold, "#334155", "Outside");
    text(
        &mut ops,
        16,
        top + 36,
        fs,
        Face::Regular,
        "#64748b",
        "external, supply chain, physical",
    );
    let p = d.perimeter;
    ops.push(Op::Rect {
        x: x(p.x),
        y: y(p.y),
        w: p.w as f32 * s,
        h: p.h as f32 * s,
        radius: 12.0 * s,
        fill: Some(hex("#f8fafc")),
        stroke: Some((hex("#475569"), 1.5 * s, Some(vec![8.0 * s, 5.0 * s]))),
    });
    text(
        &mut ops,
        420,
        p.y + 22,
        fs,
        Face::Bold,
        "#334155",
        "Inside the perimeter",
    );
    if let Some(first) = d.attackers.iter().find(|a| a.lane == Lane::Edge) {
        let label = "Adjacent (at the edge)";
        let w = f.metrics(Face::Bold).width(label, fs);
        ops.push(Op::Text {
            x: x(p.x) - w / 2.0,
            y: y(first.rect.y.saturating_sub(6)),
            size: fs,
            face: Face::Bold,
            color: hex("#334155"),
            text: label.into(),
        });
    }
    if d.attackers.iter().any(|a| a.lane == Lane::Inside) {
        text(
            &mut ops,
            420,
            top + 50,
            fs,
            Face::Regular,
            "#64748b",
            "Internal attackers and insiders",
        );
    }
    for l in &d.links {
        let (x1, y1, x2, y2) = (x(l.from.0), y(l.from.1), x(l.to.0), y(l.to.1));
        ops.push(Op::Line {
            from: (x1, y1),
            to: (x2 - 4.0 * s, y2),
            color: hex("#b91c1c"),
            width: 1.2 * s,
            opacity: 0.45,
        });
        let a = 7.0 * s;
        ops.push(Op::Triangle {
            points: [(x2, y2), (x2 - a, y2 - a / 2.0), (x2 - a, y2 + a / 2.0)],
            color: hex("#b91c1c"),
        });
    }
    for b in &d.boxes {
        let r = b.rect;
        let unbounded = b.id.is_empty();
        ops.push(Op::Rect {
            x: x(r.x),
            y: y(r.y),
            w: r.w as f32 * s,
            h: r.h as f32 * s,
            radius: 8.0 * s,
            fill: Some(hex(if unbounded { "#ffffff" } else { "#eff6ff" })),
            stroke: Some((
                hex(if unbounded { "#94a3b8" } else { "#1d4ed8" }),
                2.0 * s,
                Some(if unbounded {
                    vec![3.0 * s, 4.0 * s]
                } else {
                    vec![10.0 * s, 5.0 * s]
                }),
            )),
        });
        let heading = if unbounded {
            b.name.clone()
        } else {
            format!("{} · {}", b.id, b.name)
        };
        let heading = format!(
            "{}{}",
            if unbounded { "" } else { "Trust boundary " },
            diagram::clip(&heading, 70)
        );
        text(
            &mut ops,
            r.x + 12,
            r.y + 20,
            14.0 * s,
            Face::Bold,
            "#0f172a",
            &heading,
        );
        text(
            &mut ops,
            r.x + 12,
            r.y + 38,
            fs,
            Face::Regular,
            "#334155",
            &diagram::clip(&b.detail, 100),
        );
        let reached = if b.reached_by.is_empty() {
            "No outside or adjacent attacker reaches these assets".to_string()
        } else {
            format!("Reached from outside by {}", b.reached_by.join(", "))
        };
        text(
            &mut ops,
            r.x + 12,
            r.y + 55,
            fs,
            Face::Regular,
            "#7f1d1d",
            &diagram::clip(&reached, 110),
        );
        if b.chips.is_empty() {
            text(
                &mut ops,
                r.x + 12,
                r.y + 86,
                fs,
                Face::Regular,
                "#64748b",
                "No assets on its protected side",
            );
        }
        for c in &b.chips {
            let cr = c.rect;
            ops.push(Op::Rect {
                x: x(cr.x),
                y: y(cr.y),
                w: cr.w as f32 * s,
                h: cr.h as f32 * s,
                radius: 6.0 * s,
                fill: Some(hex("#ffffff")),
                stroke: Some((hex("#64748b"), 1.0 * s, None)),
            });
            let id_w = f.metrics(Face::Bold).width(&c.id, fs);
            text(
                &mut ops,
                cr.x + 8,
                cr.y + 20,
                fs,
                Face::Bold,
                "#0f172a",
                &c.id,
            );
            ops.push(Op::Text {
                x: x(cr.x + 8) + id_w + 3.0 * s,
                y: y(cr.y + 20),
                size: fs,
                face: Face::Regular,
                color: hex("#0f172a"),
                text: f.printable(Face::Regular, &diagram::clip(&c.name, 19)),
            });
        }
    }
    for a in &d.attackers {
        let r = a.rect;
        let max = match a.lane {
            Lane::Outside => 33,
            Lane::Edge => 27,
            Lane::Inside => 21,
        };
        ops.push(Op::Rect {
            x: x(r.x),
            y: y(r.y),
            w: r.w as f32 * s,
            h: r.h as f32 * s,
            radius: 6.0 * s,
            fill: Some(hex("#fef2f2")),
            stroke: Some((hex("#b91c1c"), 1.5 * s, None)),
        });
        text(
            &mut ops,
            r.x + 8,
            r.y + 18,
            fs,
            Face::Bold,
            "#7f1d1d",
            &diagram::clip(&format!("{} {}", a.id, a.name), max),
        );
        text(
            &mut ops,
            r.x + 8,
            r.y + 35,
            fs,
            Face::Regular,
            "#334155",
            &diagram::clip(&a.detail, max + 4),
        );
    }
    ops
}

fn paint(c: Rgb) -> krilla::paint::Paint {
    rgb::Color::new(c.0, c.1, c.2).into()
}

fn rounded(x: f32, y: f32, w: f32, h: f32, r: f32) -> Option<krilla::geom::Path> {
    let mut pb = PathBuilder::new();
    if r <= 0.0 {
        pb.push_rect(KRect::from_xywh(x, y, w.max(0.01), h.max(0.01))?);
    } else {
        let r = r.min(w / 2.0).min(h / 2.0);
        pb.move_to(x + r, y);
        pb.line_to(x + w - r, y);
        pb.quad_to(x + w, y, x + w, y + r);
        pb.line_to(x + w, y + h - r);
        pb.quad_to(x + w, y + h, x + w - r, y + h);
        pb.line_to(x + r, y + h);
        pb.quad_to(x, y + h, x, y + h - r);
        pb.line_to(x, y + r);
        pb.quad_to(x, y, x + r, y);
        pb.close();
    }
    pb.finish()
}

fn draw(surface: &mut Surface<'_>, f: &Fonts, op: &Op) {
    match op {
        Op::Text {
            x,
            y,
            size,
            face,
            color,
            text,
        } => {
            if text.is_empty() {
                return;
            }
            surface.set_stroke(None);
            surface.set_fill(Some(Fill {
                paint: paint(*color),
                ..Default::default()
            }));
            surface.draw_text(
                Point::from_xy(*x, *y),
                f.font(*face),
                *size,
                text,
                false,
                TextDirection::Auto,
            );
        }
        Op::Rect {
            x,
            y,
            w,
            h,
            radius,
            fill,
            stroke,
        } => {
            let Some(path) = rounded(*x, *y, *w, *h, *radius) else {
                return;
            };
            surface.set_fill(fill.map(|c| Fill {
                paint: paint(c),
                ..Default::default()
            }));
            surface.set_stroke(stroke.as_ref().map(|(c, width, dash)| Stroke {
                paint: paint(*c),
                width: *width,
                dash: dash.as_ref().map(|a| StrokeDash {
                    array: a.clone(),
                    offset: 0.0,
                }),
                ..Default::default()
            }));
            surface.draw_path(&path);
        }
        Op::Line {
            from,
            to,
            color,
            width,
            opacity,
        } => {
            let mut pb = PathBuilder::new();
            pb.move_to(from.0, from.1);
            pb.line_to(to.0, to.1);
            let Some(path) = pb.finish() else { return };
            surface.set_fill(None);
            surface.set_stroke(Some(Stroke {
                paint: paint(*color),
                width: *width,
                opacity: krilla::num::NormalizedF32::new(*opacity)
                    .unwrap_or(krilla::num::NormalizedF32::ONE),
                ..Default::default()
            }));
            surface.draw_path(&path);
        }
        Op::Triangle { points, color } => {
            let mut pb = PathBuilder::new();
            pb.move_to(points[0].0, points[0].1);
            pb.line_to(points[1].0, points[1].1);
            pb.line_to(points[2].0, points[2].1);
            pb.close();
            let Some(path) = pb.finish() else { return };
            surface.set_stroke(None);
            surface.set_fill(Some(Fill {
                paint: paint(*color),
                ..Default::default()
            }));
            surface.draw_path(&path);
        }
        Op::Clip { x, y, w, h } => match KRect::from_xywh(*x, *y, w.max(0.01), h.max(0.01))
            .and_then(|r| {
                let mut pb = PathBuilder::new();
                pb.push_rect(r);
                pb.finish()
            }) {
            Some(path) => surface.push_clip_path(&path, &krilla::paint::FillRule::NonZero),
            // Keep pushes and pops paired even if the rectangle is degenerate.
            None => surface.push_transform(&krilla::geom::Transform::identity()),
        },
        Op::Unclip => surface.pop(),
        Op::Link { .. } => {}
    }
}

/// Renders the document as PDF bytes.
pub fn render(doc: &Doc) -> Result<Vec<u8>, String> {
    let f = fonts().ok_or("the embedded report fonts could not be read")?;
    let toc = doc.toc();

    // Pass 1: how many pages the cover and contents take (their layout does not depend on
    // the page numbers), then the body.
    let placeholder: Vec<Placed> = toc
        .iter()
        .map(|(level, text, _)| Placed {
            level: *level,
            text: (*text).to_string(),
            page: 0,
            y: 0.0,
        })
        .collect();
    let toc_pages = front_matter(f, doc, &placeholder, 0).len();
    let body = lay_out_body(f, doc);

    // Pass 2: cover and table of contents, now that headings have page numbers.
    let front = front_matter(f, doc, &body.headings, toc_pages);
    debug_assert_eq!(front.len(), toc_pages);
    let offset = front.len();
    let mut pages = front;
    pages.extend(body.pages);
    let total = pages.len();

    let mut pdf = krilla::Document::new();
    pdf.set_metadata(
        Metadata::new()
            .title(format!("{} — {}", doc.title, doc.subtitle))
            .creator("rampart".into())
            .producer(format!("rampart {} (krilla)", env!("CARGO_PKG_VERSION")))
            .language("en".into()),
    );
    let footer = format!("{} — {}", doc.title, doc.subtitle);
    for (n, p) in pages.iter().enumerate() {
        let size = krilla::geom::Size::from_wh(p.w, p.h).ok_or("bad page size")?;
        let mut page = pdf.start_page_with(PageSettings::new(size));
        let mut surface = page.surface();
        for op in &p.ops {
            draw(&mut surface, f, op);
        }
        // Footer: the report and "Page N of M".
        let label = format!("Page {} of {total}", n + 1);
        let lw = f.metrics(Face::Regular).width(&label, 8.0);
        let ft = f
            .wrap(Face::Regular, 8.0, &footer, p.w - 2.0 * MARGIN - lw - 20.0)
            .into_iter()
            .next()
            .unwrap_or_default();
        for op in [
            Op::Line {
                from: (MARGIN, p.h - FOOTER_Y - 10.0),
                to: (p.w - MARGIN, p.h - FOOTER_Y - 10.0),
                color: RULE,
                width: 0.5,
                opacity: 1.0,
            },
            Op::Text {
                x: MARGIN,
                y: p.h - FOOTER_Y,
                size: 8.0,
                face: Face::Regular,
                color: MUTED,
                text: ft,
            },
            Op::Text {
                x: p.w - MARGIN - lw,
                y: p.h - FOOTER_Y,
                size: 8.0,
                face: Face::Regular,
                color: MUTED,
                text: label,
            },
        ] {
            draw(&mut surface, f, &op);
        }
        surface.finish();
        for op in &p.ops {
            if let Op::Link {
                x,
                y,
                w,
                h,
                heading,
            } = op
                && let Some(target) = body.headings.get(*heading)
                && let Some(rect) = KRect::from_xywh(*x, *y, *w, *h)
            {
                let dest = XyzDestination::new(
                    target.page + offset,
                    Point::from_xy(MARGIN, (target.y - 20.0).max(0.0)),
                );
                page.add_annotation(Annotation::new_link(
                    LinkAnnotation::new(rect, Target::Destination(Destination::Xyz(dest))),
                    Some(format!("Go to {}", target.text)),
                ));
            }
        }
        page.finish();
    }

    // Bookmarks: sections with their subsections.
    let mut outline = Outline::new();
    let mut current: Option<OutlineNode> = None;
    for h in &body.headings {
        let dest = XyzDestination::new(
            h.page + offset,
            Point::from_xy(MARGIN, (h.y - 20.0).max(0.0)),
        );
        let node = OutlineNode::new(h.text.clone(), dest);
        if h.level <= 1 {
            if let Some(done) = current.take() {
                outline.push_child(done);
            }
            current = Some(node);
        } else if let Some(parent) = current.as_mut() {
            parent.push_child(node);
        } else {
            outline.push_child(node);
        }
    }
    if let Some(done) = current.take() {
        outline.push_child(done);
    }
    pdf.set_outline(outline);
    pdf.finish()
        .map_err(|e| format!("writing the PDF failed: {e:?}"))
}

/// Pass 1 of the layout: the body's pages, with the page and position of every heading.
fn lay_out_body<'f>(f: &'f Fonts, doc: &Doc) -> Layout<'f> {
    let mut body = Layout {
        f,
        pages: Vec::new(),
        y: MARGIN,
        headings: Vec::new(),
    };
    body.new_page(A4_W, A4_H);
    for (i, b) in doc.blocks.iter().enumerate() {
        match b {
            Block::Heading { level, text, .. } => {
                if matches!(doc.blocks.get(i + 1), Some(Block::Diagram(_))) {
                    if body.pages.last().is_some_and(|p| p.ops.is_empty()) {
                        body.pages.pop();
                    }
                    body.new_page(A4_H, A4_W);
                }
                body.heading(*level, text)
            }
            Block::Para(t) => body.para(t, BODY, Face::Regular, INK),
            Block::Note(t) => body.para(t, 8.5, Face::Regular, MUTED),
            Block::Facts(facts) => body.facts(facts),
            Block::Code(t) => body.code(t),
            Block::Table { columns, rows } => body.table(columns, rows),
            Block::Diagram(d) => body.diagram(d),
        }
    }
    // A diagram at the very end leaves an empty page behind.
    if body.pages.len() > 1 && body.pages.last().is_some_and(|p| p.ops.is_empty()) {
        body.pages.pop();
    }
    body
}

/// The cover and the table of contents; `offset` is the number of front pages (page numbers
/// of headings are `page + offset + 1`).
fn front_matter(f: &Fonts, doc: &Doc, headings: &[Placed], offset: usize) -> Vec<PageBuf> {
    let toc_lh = 15.0;
    let mut front = Layout {
        f,
        pages: Vec::new(),
        y: MARGIN,
        headings: Vec::new(),
    };
    front.new_page(A4_W, A4_H);
    draw_cover(&mut front, doc);
    front.y += 10.0;
    front.text(
        MARGIN,
        front.y + 15.0,
        15.0,
        Face::Bold,
        INK,
        "Contents".into(),
    );
    front.y += 30.0;
    for (i, h) in headings.iter().enumerate() {
        if front.y + toc_lh > A4_H - MARGIN - 12.0 {
            front.new_page(A4_W, A4_H);
        }
        let page_no = (h.page + offset + 1).to_string();
        let indent = if h.level > 1 { 16.0 } else { 0.0 };
        let (face, size) = if h.level > 1 {
            (Face::Regular, 9.0)
        } else {
            (Face::Bold, 10.0)
        };
        let num_w = f.metrics(Face::Regular).width(&page_no, 10.0);
        let avail = A4_W - 2.0 * MARGIN - indent - 40.0;
        let label = f
            .wrap(face, size, &h.text, avail)
            .into_iter()
            .next()
            .unwrap_or_default();
        let y = front.y + size;
        front.text(MARGIN + indent, y, size, face, INK, label);
        front.text(A4_W - MARGIN - num_w, y, 10.0, Face::Regular, INK, page_no);
        let top = front.y;
        front.page().ops.push(Op::Link {
            x: MARGIN,
            y: top,
            w: A4_W - 2.0 * MARGIN,
            h: toc_lh,
            heading: i,
        });
        front.y += toc_lh;
    }
    front.pages
}

fn draw_cover(l: &mut Layout<'_>, doc: &Doc) {
    let f = l.f;
    for t in f.wrap(Face::Bold, 22.0, &doc.title, l.width()) {
        l.y += 22.0;
        l.text(MARGIN, l.y, 22.0, Face::Bold, INK, t);
        l.y += 5.0;
    }
    l.y += 16.0;
    l.text(
        MARGIN,
        l.y,
        13.0,
        Face::Regular,
        ACCENT,
        f.printable(Face::Regular, &doc.subtitle),
    );
    l.y += 10.0;
    let w = l.width();
    let y = l.y;
    l.page().ops.push(Op::Line {
        from: (MARGIN, y),
        to: (MARGIN + w, y),
        color: ACCENT,
        width: 1.5,
        opacity: 1.0,
    });
    l.y += 10.0;
    l.facts(&doc.cover);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fonts_load_and_measure() {
        let f = fonts().expect("fonts");
        let w = f.metrics(Face::Regular).width("Hello", 10.0);
        assert!(w > 15.0 && w < 35.0, "{w}");
        // Monospace: every character has the same advance.
        let m = f.metrics(Face::Mono);
        assert!((m.width("iiii", 10.0) - m.width("WWWW", 10.0)).abs() < 0.01);
    }

    #[test]
    fn wrapping_keeps_lines_inside_and_breaks_long_words() {
        let f = fonts().expect("fonts");
        let text = format!("{} short words here", "x".repeat(300));
        let lines = f.wrap(Face::Regular, 10.0, &text, 100.0);
        assert!(lines.len() > 3);
        for l in &lines {
            assert!(
                f.metrics(Face::Regular).width(l, 10.0) <= 100.0 + 0.01,
                "{l}"
            );
        }
        assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
        // Explicit newlines start lines.
        assert_eq!(f.wrap(Face::Regular, 10.0, "a\nb", 500.0), vec!["a", "b"]);
    }

    /// A large model: `assets` assets in one boundary and `attackers` external attackers.
    fn big_model(assets: usize, attackers: usize) -> crate::domain::ThreatModel {
        use crate::domain::{
            AttackerPosition, Level, NewAsset, NewAttacker, NewTrustBoundary, SecurityProperty,
            ThreatModel,
        };
        let props: crate::domain::PropertySet =
            [SecurityProperty::Confidentiality].into_iter().collect();
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("time");
        let asset = |i: usize| NewAsset {
            name: format!("Data store {i}"),
            description: String::new(),
            properties: props.clone(),
            impact: Level::High,
            rationale: String::new(),
            tags: Default::default(),
        };
        let mut m = ThreatModel::new(
            "00000000-0000-4000-8000-000000000002",
            "Big",
            "big",
            (0..assets).map(asset).collect(),
            now,
        )
        .expect("model");
        for i in 0..attackers {
            m.add_attacker(
                NewAttacker {
                    name: format!("Attacker {i}"),
                    description: String::new(),
                    capability: String::new(),
                    position: AttackerPosition::External,
                    archetype: String::new(),
                    likelihood: Level::Medium,
                    threatens: props.clone(),
                    targets: None,
                    rationale: String::new(),
                    tags: Default::default(),
                },
                now,
            )
            .expect("attacker");
        }
        m.set_trust_boundaries(
            vec![NewTrustBoundary {
                name: "Internet to API".into(),
                zones: vec!["Internet".into(), "API".into()],
                assets: (1..=assets).map(|i| format!("A{i}")).collect(),
                crossing: vec!["HTTPS".into()],
                rationale: String::new(),
            }],
            "test",
            now,
        )
        .expect("boundaries");
        m
    }

    fn diagram_doc(m: &crate::domain::ThreatModel) -> Doc {
        let mut d = Doc::new("Big", "Threat model report");
        d.section("boundaries", "Trust boundaries");
        let diagram = diagram::layout(m).expect("diagram");
        d.blocks.push(Block::Diagram(Box::new(diagram)));
        d.section("after", "After");
        d.para("More text.");
        d
    }

    /// Every label is inside its page (the summary after a diagram once ran off a portrait
    /// page because it was wrapped to the landscape width).
    fn assert_text_inside(l: &Layout<'_>) {
        for (n, p) in l.pages.iter().enumerate() {
            for op in &p.ops {
                if let Op::Text {
                    x,
                    y,
                    size,
                    face,
                    text,
                    ..
                } = op
                {
                    let w = l.f.metrics(*face).width(text, *size);
                    assert!(
                        *x >= 0.0 && x + w <= p.w + 0.5 && *y <= p.h && *y >= 0.0,
                        "page {n} ({}x{}): {text:?} at {x},{y} width {w}",
                        p.w,
                        p.h
                    );
                }
            }
        }
    }

    #[test]
    fn small_diagram_is_one_landscape_page() {
        let f = fonts().expect("fonts");
        let l = lay_out_body(f, &diagram_doc(&big_model(4, 3)));
        assert_text_inside(&l);
        let landscape = l.pages.iter().filter(|p| p.w > p.h).count();
        assert_eq!(landscape, 1);
        assert!(
            !l.pages
                .iter()
                .any(|p| p.ops.iter().any(|o| matches!(o, Op::Clip { .. })))
        );
    }

    #[test]
    fn tall_diagram_continues_on_more_pages_at_a_readable_scale() {
        let f = fonts().expect("fonts");
        let m = big_model(60, 30);
        let d = diagram::layout(&m).expect("diagram");
        let l = lay_out_body(f, &diagram_doc(&m));
        assert_text_inside(&l);
        let landscape: Vec<&PageBuf> = l.pages.iter().filter(|p| p.w > p.h).collect();
        assert!(landscape.len() >= 2, "{} landscape pages", landscape.len());
        // Every chip's asset id is drawn exactly once, across the parts.
        for b in &d.boxes {
            for c in &b.chips {
                let drawn = landscape
                    .iter()
                    .flat_map(|p| &p.ops)
                    .filter(|o| matches!(o, Op::Text { text, .. } if *text == c.id))
                    .count();
                assert_eq!(drawn, 1, "{}", c.id);
            }
        }
        // Each part is clipped, pushes and pops paired.
        for p in &landscape {
            let clips = p
                .ops
                .iter()
                .filter(|o| matches!(o, Op::Clip { .. }))
                .count();
            let unclips = p.ops.iter().filter(|o| matches!(o, Op::Unclip)).count();
            assert_eq!((clips, unclips), (1, 1));
        }
        // Labels are drawn at the page-width scale, not shrunk to fit one page.
        let smallest = landscape
            .iter()
            .flat_map(|p| &p.ops)
            .filter_map(|o| match o {
                Op::Text { size, .. } => Some(*size),
                _ => None,
            })
            .fold(f32::MAX, f32::min);
        assert!(smallest >= 12.0 * MIN_DIAGRAM_SCALE, "{smallest}");
        assert!(render(&diagram_doc(&m)).expect("pdf").starts_with(b"%PDF-"));
    }

    #[test]
    fn same_document_gives_same_bytes() {
        let mut d = Doc::new("Shop <beta>", "Threat model report");
        d.cover = vec![("Model".into(), "m1".into())];
        d.section("s", "Section");
        d.para("Some text ".repeat(200));
        d.table(
            &[("ID", 1.0), ("Name", 3.0)],
            (0..120)
                .map(|i| {
                    vec![
                        Cell::mono(format!("A{i}")),
                        Cell::text("name ".repeat(i % 7)),
                    ]
                })
                .collect(),
            "none",
        );
        let a = render(&d).expect("pdf");
        let b = render(&d).expect("pdf");
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(a, b);
    }
}
