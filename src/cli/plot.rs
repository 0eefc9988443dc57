//! `bench --plot FILE.svg`: throughput against size, one panel per op family, one
//! line per backend (and GPU timing), each point the median over the family's ops.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::bench::Row;

/// The plot as SVG text (written to its file by the caller, atomically).
pub fn svg(rows: &[Row]) -> Result<String, String> {
    // family -> line label -> elements -> GB/s of each op
    let mut data: BTreeMap<&str, BTreeMap<String, BTreeMap<u64, Vec<f64>>>> = BTreeMap::new();
    for r in rows {
        let label = if r.timing == "end_to_end" {
            r.backend.clone()
        } else {
            format!("{} {}", r.backend, r.timing)
        };
        data.entry(&r.family)
            .or_default()
            .entry(label)
            .or_default()
            .entry(r.elements)
            .or_default()
            .push(r.gbps);
    }
    if data.is_empty() {
        return Err("nothing to plot".into());
    }
    let mut text = String::new();
    draw(&mut text, &data)?;
    Ok(text)
}

type Lines<'a> = BTreeMap<&'a str, BTreeMap<String, BTreeMap<u64, Vec<f64>>>>;

fn draw(text: &mut String, data: &Lines<'_>) -> Result<(), String> {
    let root = SVGBackend::with_string(text, (900, 420 * data.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((data.len(), 1));
    for (panel, (family, lines)) in panels.iter().zip(data) {
        let xs = lines.values().flat_map(|l| l.keys().copied());
        let (xmin, xmax) = xs.fold((u64::MAX, 0), |(a, b), x| (a.min(x), b.max(x)));
        let ys = lines.values().flat_map(|l| l.values().flatten().copied());
        let (ymin, ymax) = ys.fold((f64::MAX, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{family}: GB/s vs elements"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(
                ((xmin as f64) * 0.8..(xmax as f64) * 1.25).log_scale(),
                (ymin.max(1e-4) * 0.5..ymax * 2.0).log_scale(),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("elements")
            .y_desc("GB/s")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (label, points)) in lines.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let series: Vec<(f64, f64)> = points
                .iter()
                .map(|(&x, ys)| {
                    let mut ys = ys.clone();
                    ys.sort_by(|a, b| a.total_cmp(b));
                    (x as f64, ys[ys.len() / 2])
                })
                .collect();
            chart
                .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(series.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
