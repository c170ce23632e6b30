//! Plots drawn with plotters, each as SVG (inlined in report.html) and PNG:
//! per-epoch validation curves of every cell and a confusion matrix per cell.
//!
//! Why a font file at run time: plotters' pure-Rust text (`ab_glyph`) needs a
//! TrueType font and a system font library is one more C dependency; the font
//! comes from `EXP_FONT` or the usual Debian paths (fonts-dejavu-core).

use super::analysis::CellReport;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];

/// Register a font for plotters once; Err says why plots cannot be drawn.
pub fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates: Vec<String> =
            std::env::var("EXP_FONT").ok().into_iter().chain(FONT_PATHS.iter().map(|s| s.to_string())).collect();
        for path in &candidates {
            if let Ok(bytes) = std::fs::read(path) {
                // Why leak: plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(format!(
            "no TrueType font found (looked at $EXP_FONT and {}); install fonts-dejavu-core or set EXP_FONT",
            FONT_PATHS.join(", ")
        ))
    })
    .clone()
}

/// Which per-epoch column a curve shows.
#[derive(Debug, Clone, Copy)]
pub enum Curve {
    ValLoss,
    ValTop1,
}

impl Curve {
    pub fn title(self) -> &'static str {
        match self {
            Curve::ValLoss => "validation loss",
            Curve::ValTop1 => "validation top-1",
        }
    }

    pub fn file_stem(self) -> &'static str {
        match self {
            Curve::ValLoss => "val_loss",
            Curve::ValTop1 => "val_top1",
        }
    }

    fn value(self, e: &super::load::EpochRow) -> f64 {
        match self {
            Curve::ValLoss => e.val_loss,
            Curve::ValTop1 => e.val_top1,
        }
    }
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn draw_curves<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    cells: &[CellReport],
    curve: Curve,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let points: Vec<(String, Vec<(f64, f64)>)> = cells
        .iter()
        .filter(|c| !c.epochs.is_empty())
        .map(|c| {
            let pts = c
                .epochs
                .iter()
                .map(|e| (f64::from(e.epoch), curve.value(e)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            (c.id.clone(), pts)
        })
        .collect();
    let all: Vec<(f64, f64)> = points.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let x_max = all.iter().map(|p| p.0).fold(1.0, f64::max);
    let (mut y_lo, mut y_hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    if !y_lo.is_finite() {
        (y_lo, y_hi) = (0.0, 1.0);
    }
    let pad = ((y_hi - y_lo) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption(curve.title(), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.5..x_max + 0.5, (y_lo - pad)..(y_hi + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(curve.title())
        .x_labels(x_max as usize + 1)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for (i, (id, pts)) in points.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(id.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(err)?;
    }
    if !points.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

fn draw_confusion<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, cell: &CellReport) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let c = cell.confusion.len();
    let cf = c as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("confusion: {}", cell.id), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..cf, 0f64..cf)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted class")
        .y_desc("true class")
        // Why 2c + 1 labels: key points fall every half class, and only the
        // half-way ones (cell centres) get a class index.
        .x_labels(2 * c + 1)
        .y_labels(2 * c + 1)
        .x_label_formatter(&|v| centre_label(*v, |k| k))
        .y_label_formatter(&|v| centre_label(*v, |k| c as i64 - 1 - k))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    for (t, row) in cell.confusion.iter().enumerate() {
        let total: u64 = row.iter().sum();
        for (p, &n) in row.iter().enumerate() {
            let frac = if total > 0 {
                n as f64 / total as f64
            } else {
                0.0
            };
            // White → dark blue by the row-normalised fraction.
            let shade = |full: f64| (255.0 - (255.0 - full) * frac) as u8;
            let color = RGBColor(shade(8.0), shade(48.0), shade(107.0));
            // Row 0 at the top.
            let (x, y) = (p as f64, cf - 1.0 - t as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    color.filled(),
                )))
                .map_err(err)?;
            if c <= 12 {
                let text_color = if frac > 0.5 { WHITE } else { BLACK };
                let style = ("sans-serif", 12).into_font().color(&text_color).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                );
                chart
                    .draw_series(std::iter::once(Text::new(
                        n.to_string(),
                        (x + 0.5, y + 0.5),
                        style,
                    )))
                    .map_err(err)?;
            }
        }
    }
    root.present().map_err(err)
}

/// The class index of a cell centre (`k + 0.5`), empty elsewhere.
fn centre_label(v: f64, map: impl Fn(i64) -> i64) -> String {
    if (v - v.floor() - 0.5).abs() < 1e-6 {
        map(v.floor() as i64).to_string()
    } else {
        String::new()
    }
}

/// A plot as SVG text and PNG bytes.
pub struct Plot {
    pub svg: String,
    pub png: Vec<u8>,
}

fn both(
    size: (u32, u32),
    svg_draw: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
    png_draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
) -> Result<Plot, String> {
    ensure_font()?;
    let mut svg = String::new();
    svg_draw(SVGBackend::with_string(&mut svg, size).into_drawing_area())?;
    let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
    png_draw(BitMapBackend::with_buffer(&mut buf, size).into_drawing_area())?;
    let img =
        image::RgbImage::from_raw(size.0, size.1, buf).ok_or("PNG buffer has the wrong size")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(err)?;
    Ok(Plot { svg, png })
}

pub fn curves(cells: &[CellReport], curve: Curve) -> Result<Plot, String> {
    both(
        (900, 480),
        |a| draw_curves(a, cells, curve),
        |a| draw_curves(a, cells, curve),
    )
}

pub fn confusion(cell: &CellReport) -> Result<Plot, String> {
    let side = if cell.confusion.len() > 12 { 640 } else { 420 };
    both(
        (side, side + 30),
        |a| draw_confusion(a, cell),
        |a| draw_confusion(a, cell),
    )
}

/// Write `<stem>.svg` and `<stem>.png` under `dir`.
pub fn save(plot: &Plot, dir: &Path, stem: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{stem}.svg")), &plot.svg)?;
    std::fs::write(dir.join(format!("{stem}.png")), &plot.png)
}
