//! The trust-boundary diagram of the model page, drawn server-side as inline SVG (no
//! JavaScript, nothing external, CSP-safe: presentation attributes only, no `style`).
//!
//! Pure and deterministic: [`layout`] places every box from the [`ThreatModel`] alone (same
//! model → same bytes), [`Diagram::to_svg`] writes it out escaping every piece of user text.
//!
//! Geometry (viewBox 1200 wide, so it stays legible at 1280 px):
//! - a large dashed *perimeter* region holds the trust boundaries, each a labelled dashed box
//!   with the model's assets that sit on its protected side as chips inside it; assets in no
//!   boundary get their own box;
//! - attackers stand where their [`AttackerPosition`] puts them: `external`, `supply_chain`
//!   and `physical` in the *Outside* lane left of the perimeter, `adjacent` on the perimeter
//!   edge itself, `internal` and `insider` inside the perimeter above the boundaries;
//! - each outside attacker has an arrow to the perimeter; each box names, in text, the
//!   outside and adjacent attackers that can reach one of its assets (their `targets`, or
//!   every asset when unrestricted) — text instead of a fan of crossing lines stays legible
//!   with a dozen attackers. Outside attackers are stacked first, adjacent ones below them,
//!   so the lanes never overlap.
//!
//! Nothing is colour-only: lanes and boxes carry text labels, attackers show their position
//! in words, and the `<title>`/`<desc>` give a text summary for assistive technology.

use std::fmt::Write as _;

use crate::domain::{AttackerPosition, ThreatModel};

/// Width of the drawing (viewBox units).
pub const WIDTH: u32 = 1200;

const OUT_X: u32 = 16;
const OUT_W: u32 = 260;
const PERIM_X: u32 = 300;
const ADJ_W: u32 = 200;
const INNER_X: u32 = 420;
const INNER_W: u32 = WIDTH - 32 - INNER_X;
const CHIP_W: u32 = 164;
const CHIP_H: u32 = 32;
const CHIP_STRIDE_X: u32 = 176;
const CHIP_STRIDE_Y: u32 = 40;
const CHIPS_PER_ROW: u32 = 4;
const ATK_H: u32 = 44;
const ATK_STRIDE: u32 = 54;
const TOP: u32 = 16;
const BOX_HEAD: u32 = 66;
const BOX_GAP: u32 = 20;

/// A rectangle in viewBox units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left.
    pub x: u32,
    /// Top.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// True when `other` lies completely inside this rectangle.
    #[cfg(test)]
    fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.x + other.w <= self.x + self.w
            && other.y + other.h <= self.y + self.h
    }

    fn mid_y(&self) -> u32 {
        self.y + self.h / 2
    }
}

/// An asset chip inside a box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    /// Asset id.
    pub id: String,
    /// Asset name (unescaped).
    pub name: String,
    /// Where it is drawn.
    pub rect: Rect,
}

/// A trust boundary box (or the box of assets outside every boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundaryBox {
    /// Boundary id; empty for the "no boundary" box.
    pub id: String,
    /// Heading (unescaped).
    pub name: String,
    /// Second line: zones and what crosses (unescaped).
    pub detail: String,
    /// The box.
    pub rect: Rect,
    /// Assets inside.
    pub chips: Vec<Chip>,
    /// Ids of the outside/adjacent attackers that can reach one of its assets.
    pub reached_by: Vec<String>,
}

/// Which side of the perimeter an attacker is drawn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Left of the perimeter.
    Outside,
    /// On the perimeter edge.
    Edge,
    /// Inside the perimeter.
    Inside,
}

/// An attacker box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackerBox {
    /// Attacker id.
    pub id: String,
    /// Name (unescaped).
    pub name: String,
    /// Position and likelihood in words.
    pub detail: String,
    /// What it can reach, in words (for its `<title>`).
    pub reach: String,
    /// Lane it is drawn in.
    pub lane: Lane,
    /// The box.
    pub rect: Rect,
}

/// A connector from an attacker to a boundary box it can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Start (attacker's right edge).
    pub from: (u32, u32),
    /// End (boundary's left edge).
    pub to: (u32, u32),
}

/// The laid-out diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagram {
    /// Model title (for `<title>`).
    pub title: String,
    /// Total height.
    pub height: u32,
    /// The perimeter region.
    pub perimeter: Rect,
    /// Boundary boxes, in model order; the "no boundary" box last when needed.
    pub boxes: Vec<BoundaryBox>,
    /// Attackers.
    pub attackers: Vec<AttackerBox>,
    /// Connectors.
    pub links: Vec<Link>,
    /// Text summary for `<desc>`.
    pub summary: String,
}

fn lane_of(p: AttackerPosition) -> Lane {
    match p {
        AttackerPosition::External | AttackerPosition::SupplyChain | AttackerPosition::Physical => {
            Lane::Outside
        }
        AttackerPosition::Adjacent => Lane::Edge,
        AttackerPosition::Internal | AttackerPosition::Insider => Lane::Inside,
    }
}

fn reach_words(a: &crate::domain::Attacker) -> String {
    match &a.targets {
        None => "can reach every asset".into(),
        Some(t) if t.is_empty() => "reaches no asset".into(),
        Some(t) => format!(
            "can reach {}",
            t.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn position_words(p: AttackerPosition) -> &'static str {
    match p {
        AttackerPosition::External => "external",
        AttackerPosition::Adjacent => "adjacent",
        AttackerPosition::Internal => "internal",
        AttackerPosition::Insider => "insider",
        AttackerPosition::SupplyChain => "supply chain",
        AttackerPosition::Physical => "physical",
    }
}

/// Shortens text to `max` characters with an ellipsis (whole text stays in `<title>`).
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Escapes text for SVG/XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn chip_rows(n: usize) -> u32 {
    (n.max(1) as u32).div_ceil(CHIPS_PER_ROW)
}

/// Lays out the diagram; `None` when the model has no trust boundaries (the page shows an
/// empty state instead).
pub fn layout(model: &ThreatModel) -> Option<Diagram> {
    if model.trust_boundaries.is_empty() {
        return None;
    }
    let asset_name = |id: &str| {
        model
            .asset(id)
            .map(|a| (a.id.clone(), a.name.clone()))
            .unwrap_or_else(|| (id.to_string(), id.to_string()))
    };

    // Inside attackers: a wrapped row of chips at the top of the perimeter.
    let inside: Vec<_> = model
        .attackers
        .iter()
        .filter(|a| lane_of(a.position) == Lane::Inside)
        .collect();
    let mut y = TOP + 36;
    let mut attackers = Vec::new();
    if !inside.is_empty() {
        y += 20; // lane heading
        for (i, a) in inside.iter().enumerate() {
            let i = i as u32;
            attackers.push(AttackerBox {
                id: a.id.clone(),
                name: a.name.clone(),
                detail: format!(
                    "{} · likelihood {}",
                    position_words(a.position),
                    a.likelihood
                ),
                reach: reach_words(a),
                lane: Lane::Inside,
                rect: Rect {
                    x: INNER_X + (i % CHIPS_PER_ROW) * CHIP_STRIDE_X,
                    y: y + (i / CHIPS_PER_ROW) * ATK_STRIDE,
                    w: CHIP_W,
                    h: ATK_H,
                },
            });
        }
        y += (inside.len() as u32).div_ceil(CHIPS_PER_ROW) * ATK_STRIDE + 8;
    }

    // Boundary boxes, stacked.
    let mut boxes = Vec::new();
    let mut place = |id: String, name: String, detail: String, assets: Vec<(String, String)>| {
        let rows = chip_rows(assets.len());
        let h = BOX_HEAD + rows * CHIP_STRIDE_Y + 8;
        let rect = Rect {
            x: INNER_X,
            y,
            w: INNER_W,
            h,
        };
        let chips = assets
            .into_iter()
            .enumerate()
            .map(|(i, (id, name))| {
                let i = i as u32;
                Chip {
                    id,
                    name,
                    rect: Rect {
                        x: INNER_X + 12 + (i % CHIPS_PER_ROW) * CHIP_STRIDE_X,
                        y: y + BOX_HEAD + (i / CHIPS_PER_ROW) * CHIP_STRIDE_Y,
                        w: CHIP_W,
                        h: CHIP_H,
                    },
                }
            })
            .collect();
        boxes.push(BoundaryBox {
            id,
            name,
            detail,
            rect,
            chips,
            reached_by: Vec::new(),
        });
        y += h + BOX_GAP;
    };
    for tb in &model.trust_boundaries {
        let mut detail = tb.zones.join(" ↔ ");
        if !tb.crossing.is_empty() {
            if !detail.is_empty() {
                detail.push_str(" · ");
            }
            detail.push_str("crossing: ");
            detail.push_str(&tb.crossing.join(", "));
        }
        let assets = tb.assets.iter().map(|a| asset_name(a)).collect();
        place(tb.id.clone(), tb.name.clone(), detail, assets);
    }
    let unbounded: Vec<(String, String)> = model
        .assets
        .iter()
        .filter(|a| {
            !model
                .trust_boundaries
                .iter()
                .any(|tb| tb.assets.contains(&a.id))
        })
        .map(|a| (a.id.clone(), a.name.clone()))
        .collect();
    if !unbounded.is_empty() {
        place(
            String::new(),
            "Not inside a trust boundary".into(),
            "assets no boundary protects".into(),
            unbounded,
        );
    }
    let inner_bottom = y - BOX_GAP + 16;

    // Outside lane, then the edge lane below it (their x ranges overlap), beside the boxes.
    let mut lane_y = TOP + 56;
    let mut links = Vec::new();
    for lane in [Lane::Outside, Lane::Edge] {
        for a in model
            .attackers
            .iter()
            .filter(|a| lane_of(a.position) == lane)
        {
            let (x, w) = match lane {
                Lane::Edge => (PERIM_X - ADJ_W / 2, ADJ_W),
                _ => (OUT_X, OUT_W),
            };
            let rect = Rect {
                x,
                y: lane_y,
                w,
                h: ATK_H,
            };
            lane_y += ATK_STRIDE;
            if lane == Lane::Outside {
                links.push(Link {
                    from: (rect.x + rect.w, rect.mid_y()),
                    to: (PERIM_X, rect.mid_y()),
                });
            }
            for bx in boxes.iter_mut().filter(|bx| {
                bx.chips
                    .iter()
                    .any(|c| a.targets.as_ref().is_none_or(|t| t.contains(&c.id)))
            }) {
                bx.reached_by.push(a.id.clone());
            }
            attackers.push(AttackerBox {
                id: a.id.clone(),
                name: a.name.clone(),
                detail: format!(
                    "{} · likelihood {}",
                    position_words(a.position),
                    a.likelihood
                ),
                reach: reach_words(a),
                lane,
                rect,
            });
        }
        if lane == Lane::Outside && lane_y > TOP + 56 {
            lane_y += 12;
        }
    }
    let bottom = inner_bottom.max(lane_y);
    let perimeter = Rect {
        x: PERIM_X,
        y: TOP,
        w: WIDTH - 16 - PERIM_X,
        h: bottom - TOP,
    };

    let summary = summary(model, &boxes, &attackers);
    Some(Diagram {
        title: model.title.clone(),
        height: bottom + 16,
        perimeter,
        boxes,
        attackers,
        links,
        summary,
    })
}

fn summary(model: &ThreatModel, boxes: &[BoundaryBox], attackers: &[AttackerBox]) -> String {
    let mut s = format!(
        "{} trust boundar{}.",
        model.trust_boundaries.len(),
        if model.trust_boundaries.len() == 1 {
            "y"
        } else {
            "ies"
        }
    );
    for b in boxes {
        let names: Vec<&str> = b.chips.iter().map(|c| c.name.as_str()).collect();
        let label = if b.id.is_empty() {
            b.name.clone()
        } else {
            format!("{} {}", b.id, b.name)
        };
        let _ = write!(
            s,
            " {label}: {}.",
            if names.is_empty() {
                "no assets".to_string()
            } else {
                names.join(", ")
            }
        );
    }
    for (lane, words) in [
        (Lane::Outside, "Attackers outside the perimeter"),
        (Lane::Edge, "Attackers at the perimeter edge"),
        (Lane::Inside, "Attackers inside the perimeter"),
    ] {
        let names: Vec<String> = attackers
            .iter()
            .filter(|a| a.lane == lane)
            .map(|a| format!("{} ({})", a.name, a.detail))
            .collect();
        if !names.is_empty() {
            let _ = write!(s, " {words}: {}.", names.join(", "));
        }
    }
    s
}

impl Diagram {
    /// The `<svg>` element. All user text is escaped; names that do not fit are clipped on
    /// screen and kept whole in each element's `<title>`.
    pub fn to_svg(&self) -> String {
        let mut o = String::with_capacity(8192);
        let h = self.height;
        let _ = write!(
            o,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="tb-diagram" viewBox="0 0 {WIDTH} {h}" width="100%" role="img" aria-labelledby="tb-diagram-title tb-diagram-desc" font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" font-size="12">"##
        );
        let _ = write!(
            o,
            r##"<title id="tb-diagram-title">Trust boundaries of {}</title><desc id="tb-diagram-desc">{}</desc>"##,
            esc(&self.title),
            esc(&self.summary)
        );
        o.push_str(r##"<defs><marker id="tb-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#b91c1c"/></marker></defs>"##);
        // Lane headings.
        let _ = write!(
            o,
            r##"<text x="{OUT_X}" y="{}" font-weight="600" fill="#334155">Outside</text>"##,
            TOP + 20
        );
        let _ = write!(
            o,
            r##"<text x="{OUT_X}" y="{}" fill="#64748b">external, supply chain, physical</text>"##,
            TOP + 36
        );
        // Perimeter.
        let p = self.perimeter;
        let _ = write!(
            o,
            r##"<rect x="{}" y="{}" width="{}" height="{}" rx="12" fill="#f8fafc" stroke="#475569" stroke-width="1.5" stroke-dasharray="8 5"/>"##,
            p.x, p.y, p.w, p.h
        );
        let _ = write!(
            o,
            r##"<text x="{}" y="{}" font-weight="600" fill="#334155">Inside the perimeter</text>"##,
            INNER_X,
            p.y + 22
        );
        if let Some(first) = self.attackers.iter().find(|a| a.lane == Lane::Edge) {
            let _ = write!(
                o,
                r##"<text x="{}" y="{}" font-weight="600" fill="#334155" text-anchor="middle">Adjacent (at the edge)</text>"##,
                PERIM_X,
                first.rect.y - 6
            );
        }
        if self.attackers.iter().any(|a| a.lane == Lane::Inside) {
            let _ = write!(
                o,
                r##"<text x="{INNER_X}" y="{}" fill="#64748b">Internal attackers and insiders</text>"##,
                TOP + 50
            );
        }
        // Links under the boxes.
        for l in &self.links {
            let _ = write!(
                o,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#b91c1c" stroke-opacity="0.45" stroke-width="1.2" marker-end="url(#tb-arrow)"/>"##,
                l.from.0, l.from.1, l.to.0, l.to.1
            );
        }
        for b in &self.boxes {
            let r = b.rect;
            let unbounded = b.id.is_empty();
            let heading = if unbounded {
                b.name.clone()
            } else {
                format!("{} · {}", b.id, b.name)
            };
            let _ = write!(
                o,
                r##"<g class="tb-boundary"{}><title>{}</title>"##,
                if unbounded {
                    String::new()
                } else {
                    format!(r#" data-boundary="{}""#, esc(&b.id))
                },
                esc(&format!(
                    "{heading} — {} — reached from outside by: {}",
                    b.detail,
                    if b.reached_by.is_empty() {
                        "none".to_string()
                    } else {
                        b.reached_by.join(", ")
                    }
                ))
            );
            let _ = write!(
                o,
                r##"<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{}" stroke="{}" stroke-width="2" stroke-dasharray="{}"/>"##,
                r.x,
                r.y,
                r.w,
                r.h,
                if unbounded { "#ffffff" } else { "#eff6ff" },
                if unbounded { "#94a3b8" } else { "#1d4ed8" },
                if unbounded { "3 4" } else { "10 5" }
            );
            let _ = write!(
                o,
                r##"<text x="{}" y="{}" font-size="14" font-weight="600" fill="#0f172a">{}{}</text>"##,
                r.x + 12,
                r.y + 20,
                if unbounded { "" } else { "Trust boundary " },
                esc(&clip(&heading, 70))
            );
            let _ = write!(
                o,
                r##"<text x="{}" y="{}" fill="#334155">{}</text>"##,
                r.x + 12,
                r.y + 38,
                esc(&clip(&b.detail, 100))
            );
            let reached = if b.reached_by.is_empty() {
                "No outside or adjacent attacker reaches these assets".to_string()
            } else {
                format!("Reached from outside by {}", b.reached_by.join(", "))
            };
            let _ = write!(
                o,
                r##"<text x="{}" y="{}" fill="#7f1d1d">{}</text>"##,
                r.x + 12,
                r.y + 55,
                esc(&clip(&reached, 110))
            );
            if b.chips.is_empty() {
                let _ = write!(
                    o,
                    r##"<text x="{}" y="{}" fill="#64748b" font-style="italic">No assets on its protected side</text>"##,
                    r.x + 12,
                    r.y + BOX_HEAD + 20
                );
            }
            for c in &b.chips {
                let cr = c.rect;
                let _ = write!(
                    o,
                    r##"<g class="tb-asset" data-asset="{}"><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="#ffffff" stroke="#64748b"/><text x="{}" y="{}" fill="#0f172a"><tspan font-weight="600">{}</tspan> {}</text></g>"##,
                    esc(&c.id),
                    esc(&format!("Asset {} · {}", c.id, c.name)),
                    cr.x,
                    cr.y,
                    cr.w,
                    cr.h,
                    cr.x + 8,
                    cr.y + 20,
                    esc(&c.id),
                    esc(&clip(&c.name, 19))
                );
            }
            o.push_str("</g>");
        }
        for a in &self.attackers {
            let r = a.rect;
            let max = match a.lane {
                Lane::Outside => 33,
                Lane::Edge => 27,
                Lane::Inside => 21,
            };
            let _ = write!(
                o,
                r##"<g class="tb-attacker" data-attacker="{}" data-lane="{}"><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="#fef2f2" stroke="#b91c1c" stroke-width="1.5"/><text x="{}" y="{}" font-weight="600" fill="#7f1d1d">{}</text><text x="{}" y="{}" fill="#334155">{}</text></g>"##,
                esc(&a.id),
                match a.lane {
                    Lane::Outside => "outside",
                    Lane::Edge => "edge",
                    Lane::Inside => "inside",
                },
                esc(&format!(
                    "Attacker {} · {} · {} · {}",
                    a.id, a.name, a.detail, a.reach
                )),
                r.x,
                r.y,
                r.w,
                r.h,
                r.x + 8,
                r.y + 18,
                esc(&clip(&format!("{} {}", a.id, a.name), max)),
                r.x + 8,
                r.y + 35,
                esc(&clip(&a.detail, max + 4))
            );
        }
        o.push_str("</svg>");
        o
    }
}

/// The diagram of a model as SVG markup, or `None` when it has no trust boundaries.
pub fn render(model: &ThreatModel) -> Option<String> {
    layout(model).map(|d| d.to_svg())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Level, NewAsset, NewAttacker, NewTrustBoundary, PropertySet, SecurityProperty,
    };
    use chrono::{TimeZone, Utc};

    fn props() -> PropertySet {
        [SecurityProperty::Confidentiality].into_iter().collect()
    }

    fn asset(name: &str) -> NewAsset {
        NewAsset {
            name: name.into(),
            description: String::new(),
            properties: props(),
            impact: Level::High,
            rationale: String::new(),
            tags: Default::default(),
        }
    }

    fn attacker(name: &str, position: AttackerPosition) -> NewAttacker {
        NewAttacker {
            name: name.into(),
            description: String::new(),
            capability: String::new(),
            position,
            archetype: String::new(),
            likelihood: Level::Medium,
            threatens: props(),
            targets: None,
            rationale: String::new(),
            tags: Default::default(),
        }
    }

    fn model(boundaries: bool) -> ThreatModel {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("time");
        let mut m = ThreatModel::new(
            "00000000-0000-4000-8000-000000000001",
            "Shop <beta> & \"friends\"",
            "a shop",
            vec![asset("Orders DB"), asset("<script>alert('x')</script>")],
            now,
        )
        .expect("model");
        m.add_asset(asset("Build logs"), now).expect("asset");
        for (n, p) in [
            ("Internet user", AttackerPosition::External),
            ("Wi-Fi neighbour", AttackerPosition::Adjacent),
            ("Rogue admin & co", AttackerPosition::Insider),
            ("Compromised package", AttackerPosition::SupplyChain),
        ] {
            m.add_attacker(attacker(n, p), now).expect("attacker");
        }
        if boundaries {
            m.set_trust_boundaries(
                vec![
                    NewTrustBoundary {
                        name: "Internet → API".into(),
                        zones: vec!["Internet".into(), "API tier".into()],
                        assets: ["A1".to_string(), "A2".to_string()].into_iter().collect(),
                        crossing: vec!["HTTPS requests".into()],
                        rationale: String::new(),
                    },
                    NewTrustBoundary {
                        name: "Empty zone".into(),
                        zones: vec!["API".into(), "Batch".into()],
                        assets: Default::default(),
                        crossing: Vec::new(),
                        rationale: String::new(),
                    },
                ],
                "test",
                now,
            )
            .expect("boundaries");
        }
        m
    }

    #[test]
    fn no_boundaries_is_the_empty_state() {
        assert!(layout(&model(false)).is_none());
        assert!(render(&model(false)).is_none());
    }

    #[test]
    fn assets_sit_inside_their_boundary_and_attackers_by_position() {
        let m = model(true);
        let d = layout(&m).expect("diagram");
        // Two boundaries plus the box of the asset no boundary protects.
        assert_eq!(d.boxes.len(), 3);
        let tb1 = &d.boxes[0];
        assert_eq!(tb1.id, "TB1");
        let ids: Vec<&str> = tb1.chips.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["A1", "A2"]);
        for b in &d.boxes {
            assert!(d.perimeter.contains(&b.rect), "{b:?}");
            for c in &b.chips {
                assert!(b.rect.contains(&c.rect), "{c:?} in {b:?}");
            }
        }
        assert!(d.boxes[1].chips.is_empty());
        assert_eq!(d.boxes[2].id, "");
        assert_eq!(d.boxes[2].chips[0].name, "Build logs");
        // Boxes do not overlap.
        for w in d.boxes.windows(2) {
            assert!(w[0].rect.y + w[0].rect.h <= w[1].rect.y);
        }
        let by = |name: &str| {
            d.attackers
                .iter()
                .find(|a| a.name == name)
                .expect("attacker")
        };
        let ext = by("Internet user");
        assert_eq!(ext.lane, Lane::Outside);
        assert!(ext.rect.x + ext.rect.w < d.perimeter.x);
        assert_eq!(by("Compromised package").lane, Lane::Outside);
        let adj = by("Wi-Fi neighbour");
        assert_eq!(adj.lane, Lane::Edge);
        assert!(adj.rect.x < d.perimeter.x && adj.rect.x + adj.rect.w > d.perimeter.x);
        let ins = by("Rogue admin & co");
        assert_eq!(ins.lane, Lane::Inside);
        assert!(d.perimeter.contains(&ins.rect));
        for b in &d.boxes {
            assert!(ins.rect.y + ins.rect.h <= b.rect.y, "insiders above boxes");
        }
        // Unrestricted outside attackers get one arrow to the perimeter each; the adjacent
        // and inside ones need none.
        assert_eq!(d.links.len(), 2);
        for l in &d.links {
            assert_eq!(l.to.0, d.perimeter.x);
        }
        // Attacker boxes never overlap each other or the boundary boxes.
        let all: Vec<Rect> = d
            .attackers
            .iter()
            .map(|a| a.rect)
            .chain(d.boxes.iter().map(|b| b.rect))
            .collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let apart =
                    a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
        assert!(d.height >= d.perimeter.y + d.perimeter.h);
    }

    #[test]
    fn targets_limit_which_boxes_name_an_attacker() {
        let mut m = model(true);
        let now = Utc
            .with_ymd_and_hms(2026, 1, 3, 0, 0, 0)
            .single()
            .expect("time");
        let mut a = attacker("Scraper", AttackerPosition::External);
        a.targets = Some(["A3".to_string()].into_iter().collect());
        let sid = m.add_attacker(a, now).expect("attacker");
        let d = layout(&m).expect("diagram");
        // TB1 (A1, A2) is reached by the unrestricted outside and adjacent attackers only.
        assert_eq!(d.boxes[0].reached_by, ["ATK1", "ATK4", "ATK2"]);
        assert!(
            d.boxes[1].reached_by.is_empty(),
            "no assets, nobody reaches it"
        );
        assert_eq!(
            d.boxes[2].reached_by,
            ["ATK1", "ATK4", sid.as_str(), "ATK2"]
        );
        // The insider is never listed.
        assert!(
            d.boxes
                .iter()
                .all(|b| !b.reached_by.contains(&"ATK3".to_string()))
        );
        let svg = d.to_svg();
        assert!(svg.contains("Reached from outside by ATK1, ATK4, ATK2"));
        assert!(svg.contains("No outside or adjacent attacker reaches these assets"));
    }

    #[test]
    fn svg_escapes_user_text_and_is_deterministic() {
        let m = model(true);
        let svg = render(&m).expect("svg");
        assert_eq!(svg, render(&m).expect("svg again"));
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(svg.contains("Shop &lt;beta&gt; &amp; &quot;friends&quot;"));
        assert!(svg.contains("ATK3 Rogue admin &amp; co"));
        assert!(svg.contains("Internet → API"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"tb-diagram-title\">"));
        assert!(svg.contains("<desc id=\"tb-diagram-desc\">2 trust boundaries."));
        assert!(svg.contains("No assets on its protected side"));
        assert!(!svg.contains(" style="), "CSP: no inline style");
        // Every tag opened is closed: the counts of <g> and </g> match.
        assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
    }

    #[test]
    fn long_names_are_clipped_on_screen_but_whole_in_titles() {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("time");
        let long = "A".repeat(150);
        let mut m = model(true);
        m.edit_asset(
            "A1",
            crate::domain::AssetPatch {
                name: Some(long.clone()),
                ..Default::default()
            },
            now,
        )
        .expect("edit");
        let svg = render(&m).expect("svg");
        assert!(svg.contains(&format!("Asset A1 · {long}")));
        assert!(svg.contains(&format!("{}…", "A".repeat(18))));
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
    }
}
