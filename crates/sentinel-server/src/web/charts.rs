//! Server-rendered SVG and the number formats the charts and the pages beside them share: the
//! sparkline of a monitor's last 24 hours (how many checks failed as colour, mean response time
//! as the line), a sparkline of per-minute requests and 5xx (a tenant's, on the Tenants page), and
//! a line chart of values per time bucket (a monitor's response times, a tenant's requests, a
//! transaction's throughput, failure rate and latencies).
//!
//! Pure: numbers in, markup out. The markup comes from askama templates (`templates/charts/`), so
//! every label is escaped; the code here only computes coordinates. Colours are CSS classes
//! (`app.css`: `.sparkline`, `.line-chart`), so the charts follow the theme and the CSP (no
//! inline styles).

use askama::Template;
use sentinel_store::UptimeBucket;

use crate::tenants::read::MINUTE_MS;
use crate::uptime::badge::{Grade, percent_of, percent_text};

/// The mean response time of a bucket, milliseconds.
pub fn mean_latency(b: &UptimeBucket) -> Option<f64> {
    (b.checks > 0).then(|| b.latency_sum_ms as f64 / b.checks as f64)
}

/// A coordinate with at most one decimal, as short as possible (`12`, `12.5`).
fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    match s.strip_suffix(".0") {
        Some(whole) => whole.to_owned(),
        None => s,
    }
}

/// A value for an axis, a tooltip or a table: three significant digits or more (`2512`, `41.6`,
/// `3.25`), no trailing zeros (`12.5`, `3`).
fn value_text(v: f64) -> String {
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    let s = format!("{v:.decimals$}");
    if decimals == 0 {
        s
    } else {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Milliseconds as the pages show a latency: `120 ms`, `41.6 ms`, `3.25 ms`, `0 ms`.
pub fn ms_text(ms: f64) -> String {
    format!("{} ms", value_text(ms))
}

/// [`ms_text`], or `—` without a value.
pub fn opt_ms_text(ms: Option<f64>) -> String {
    ms.map_or_else(|| "—".to_owned(), ms_text)
}

fn utc(ms: i64, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format(format).to_string())
        .unwrap_or_default()
}

/// The time span of a bucket for a tooltip: `14:00–15:00 UTC`, or the date for day buckets.
fn bucket_text(start_ms: i64, bucket_ms: i64) -> String {
    if bucket_ms >= sentinel_store::DAY_MS {
        utc(start_ms, "%Y-%m-%d")
    } else {
        format!(
            "{}–{} UTC",
            utc(start_ms, "%H:%M"),
            utc(start_ms + bucket_ms, "%H:%M")
        )
    }
}

/// Polyline path data through `points`, one subpath per run: a run of one point is drawn as a
/// dot (a zero-length segment with round caps).
fn path_data(runs: &[Vec<(f64, f64)>]) -> String {
    let mut d = String::new();
    for run in runs {
        for (i, (x, y)) in run.iter().enumerate() {
            if !d.is_empty() {
                d.push(' ');
            }
            d.push(if i == 0 { 'M' } else { 'L' });
            d.push_str(&n(*x));
            d.push(' ');
            d.push_str(&n(*y));
        }
        if run.len() == 1 {
            d.push_str(" h0");
        }
    }
    d
}

// ---- sparkline ----

const SPARK_W: f64 = 96.0;
const SPARK_H: f64 = 24.0;
/// The coloured strip of hours along the bottom.
const SPARK_STRIP: f64 = 4.0;
/// The latency line keeps this far from the top and from the strip.
const SPARK_PAD: f64 = 2.0;

pub struct SparkSlot {
    pub x: String,
    pub width: String,
    pub grade: &'static str,
    pub title: String,
}

#[derive(Template)]
#[template(path = "charts/sparkline.svg")]
struct Sparkline {
    width: String,
    height: String,
    strip_y: String,
    strip_h: String,
    summary: String,
    slots: Vec<SparkSlot>,
    line: String,
}

/// The sparkline of `count` buckets of `bucket_ms` from `since_ms`: one strip segment per bucket
/// coloured by its failures ([`Grade`]), and the mean response time as a line scaled to the
/// highest mean. `buckets` are one monitor's non-empty buckets, in any order; those outside the
/// span are ignored.
pub fn sparkline(
    since_ms: i64,
    bucket_ms: i64,
    count: usize,
    buckets: &[UptimeBucket],
) -> Result<String, askama::Error> {
    let mut slots: Vec<Option<&UptimeBucket>> = vec![None; count];
    for b in buckets {
        let offset = b.bucket_ms - since_ms;
        if offset >= 0 && offset % bucket_ms == 0 && ((offset / bucket_ms) as usize) < count {
            slots[(offset / bucket_ms) as usize] = Some(b);
        }
    }
    let slot_w = SPARK_W / count.max(1) as f64;
    let max_latency = slots
        .iter()
        .flatten()
        .filter_map(|b| mean_latency(b))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let line_bottom = SPARK_H - SPARK_STRIP - SPARK_PAD;
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut joined = false;
    let mut views = Vec::with_capacity(count);
    let (mut checks, mut failures, mut latency) = (0u64, 0u64, 0i64);
    for (i, slot) in slots.iter().enumerate() {
        let x = i as f64 * slot_w;
        let start = since_ms + i as i64 * bucket_ms;
        let span = bucket_text(start, bucket_ms);
        let (grade, title) = match slot.filter(|b| b.checks > 0) {
            None => {
                joined = false;
                (Grade::NoData, format!("{span}: no checks"))
            }
            Some(b) => {
                checks += b.checks;
                failures += b.failures;
                latency += b.latency_sum_ms;
                let mean = mean_latency(b).unwrap_or_default();
                let y = line_bottom - mean / max_latency * (line_bottom - SPARK_PAD);
                let point = (x + slot_w / 2.0, y);
                match runs.last_mut() {
                    Some(run) if joined => run.push(point),
                    _ => runs.push(vec![point]),
                }
                joined = true;
                let p = percent_of(b.checks, b.failures);
                (
                    Grade::of(p),
                    format!(
                        "{span}: {} ({} failed of {}), mean {} ms",
                        p.map(percent_text).unwrap_or_default(),
                        b.failures,
                        b.checks,
                        value_text(mean)
                    ),
                )
            }
        };
        views.push(SparkSlot {
            x: n(x),
            width: n(slot_w),
            grade: grade.as_str(),
            title,
        });
    }
    let summary = match percent_of(checks, failures) {
        None => "No checks in this period".to_owned(),
        Some(p) => format!(
            "{} up, mean response {} ms",
            percent_text(p),
            value_text(latency as f64 / checks as f64)
        ),
    };
    Sparkline {
        width: n(SPARK_W),
        height: n(SPARK_H),
        strip_y: n(SPARK_H - SPARK_STRIP),
        strip_h: n(SPARK_STRIP),
        summary,
        slots: views,
        line: path_data(&runs),
    }
    .render()
}

// ---- count sparkline ----

/// Most bars a count sparkline draws: longer spans are summed into buckets of several minutes.
const COUNT_BARS: usize = 60;

pub struct CountBar {
    pub x: String,
    pub width: String,
    /// Top and height of the whole bar (requests) and of its 5xx part.
    pub y: String,
    pub height: String,
    pub errors_y: String,
    pub errors_height: String,
    pub title: String,
}

#[derive(Template)]
#[template(path = "charts/counts.svg")]
struct CountSparkline {
    width: String,
    height: String,
    summary: String,
    bars: Vec<CountBar>,
}

/// The sparkline of per-minute `(requests, 5xx)` counts from `since_ms` (`minutes[i]` is minute
/// `i`): a bar per bucket as high as its requests with its 5xx part in the error colour, all
/// scaled to the busiest bucket, so both the volume and the share of 5xx read at a glance. Up to
/// 60 minutes get a bar each; longer spans are summed into buckets of whole minutes.
pub fn count_sparkline(since_ms: i64, minutes: &[(u64, u64)]) -> Result<String, askama::Error> {
    let per_bar = minutes.len().div_ceil(COUNT_BARS).max(1);
    let bucket_ms = per_bar as i64 * MINUTE_MS;
    // A tenant's requests and 5xx are counted apart (each an upper bound): a minute had at
    // least as many requests as 5xx.
    let buckets: Vec<(u64, u64)> = minutes
        .chunks(per_bar)
        .map(|c| c.iter().fold((0, 0), |(r, e), m| (r + m.0.max(m.1), e + m.1)))
        .collect();
    let max = buckets.iter().map(|b| b.0).max().unwrap_or(0).max(1) as f64;
    let bar_w = SPARK_W / buckets.len().max(1) as f64;
    let h = |v: u64| v as f64 / max * (SPARK_H - SPARK_PAD);
    let bars = buckets
        .iter()
        .enumerate()
        .map(|(i, &(requests, errors))| CountBar {
            x: n(i as f64 * bar_w),
            width: n(bar_w),
            y: n(SPARK_H - h(requests)),
            height: n(h(requests)),
            errors_y: n(SPARK_H - h(errors)),
            errors_height: n(h(errors)),
            title: format!(
                "{}: {requests} requests, {errors} 5xx",
                bucket_text(since_ms + i as i64 * bucket_ms, bucket_ms)
            ),
        })
        .collect();
    let (requests, errors) = buckets.iter().fold((0, 0), |(r, e), b| (r + b.0, e + b.1));
    let summary = if requests == 0 {
        "No requests in this period".to_owned()
    } else {
        format!("{requests} requests, {errors} 5xx in this period")
    };
    CountSparkline {
        width: n(SPARK_W),
        height: n(SPARK_H),
        summary,
        bars,
    }
    .render()
}

// ---- line chart ----

const CHART_W: f64 = 720.0;
const CHART_H: f64 = 200.0;
const PLOT_LEFT: f64 = 56.0;
const PLOT_RIGHT: f64 = CHART_W - 12.0;
/// Room above the plot for the legend.
const PLOT_TOP: f64 = 28.0;
/// Room below for the time axis.
const PLOT_BOTTOM: f64 = CHART_H - 24.0;
/// Time axis steps to choose from (the first that gives at most this many labels).
const TIME_STEPS_MS: [i64; 10] = [
    60_000,
    300_000,
    900_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
];
const MAX_TIME_LABELS: i64 = 6;

/// What a line chart shows and over which time span.
pub struct ChartSpec<'a> {
    /// What it shows, for its accessible name (`Response time, last 24 hours`).
    pub title: &'a str,
    /// The values' unit, after axis values and in tooltips (`ms`).
    pub unit: &'a str,
    /// The span of the time axis: `[since_ms, until_ms)`.
    pub since_ms: i64,
    pub until_ms: i64,
    /// The width of a bucket: points sit at bucket centres, tooltips cover a bucket each.
    pub bucket_ms: i64,
    /// Points further apart than this are not joined: the data between is missing.
    pub max_gap_ms: i64,
    /// The lines' legend labels, in the order of each row's values.
    pub series: &'a [&'a str],
}

pub struct Tick {
    pub pos: String,
    pub label: String,
}

pub struct Line {
    pub label: String,
    pub d: String,
    pub legend_x: String,
}

pub struct Hover {
    pub x: String,
    pub width: String,
    pub title: String,
}

#[derive(Template)]
#[template(path = "charts/line.svg")]
struct LineChart {
    title: String,
    width: String,
    height: String,
    left: String,
    right: String,
    top: String,
    bottom: String,
    plot_h: String,
    empty: bool,
    empty_x: String,
    empty_y: String,
    axis_y: String,
    legend_y: String,
    y_ticks: Vec<Tick>,
    x_ticks: Vec<Tick>,
    lines: Vec<Line>,
    hovers: Vec<Hover>,
}

/// The top of the value axis and its step: a round number at or above `max`, in about four steps
/// of 1, 2, 2.5 or 5 × 10ⁿ. A chart of nothing but zeros still has an axis (0 to 1).
pub fn nice_scale(max: f64) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 0.25);
    }
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil().max(1.0) * step, step)
}

/// A line chart of `rows`: each is a bucket start and one value per series (`None`: no value).
/// Rows are in time order; rows outside the span are left out.
pub fn line_chart(spec: &ChartSpec, rows: &[(i64, Vec<Option<f64>>)]) -> Result<String, askama::Error> {
    let span = (spec.until_ms - spec.since_ms).max(1) as f64;
    let plot_w = PLOT_RIGHT - PLOT_LEFT;
    let x_of = |t: i64| PLOT_LEFT + (t - spec.since_ms) as f64 / span * plot_w;
    let rows: Vec<&(i64, Vec<Option<f64>>)> = rows
        .iter()
        .filter(|(t, _)| *t >= spec.since_ms && *t < spec.until_ms)
        .collect();
    let max = rows
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let empty = !max.is_finite();
    let (top, step) = nice_scale(max);
    let y_of = |v: f64| PLOT_BOTTOM - v.clamp(0.0, top) / top * (PLOT_BOTTOM - PLOT_TOP);

    let y_ticks = if empty {
        Vec::new()
    } else {
        (0..)
            .map(|i| i as f64 * step)
            .take_while(|v| *v <= top + step / 1000.0)
            .map(|v| Tick {
                pos: n(y_of(v)),
                label: format!("{} {}", value_text(v), spec.unit),
            })
            .collect()
    };
    let time_step = TIME_STEPS_MS
        .into_iter()
        .find(|s| (spec.until_ms - spec.since_ms) / s <= MAX_TIME_LABELS)
        .unwrap_or(TIME_STEPS_MS[TIME_STEPS_MS.len() - 1]);
    let time_format = if time_step >= sentinel_store::DAY_MS {
        "%b %d"
    } else {
        "%H:%M"
    };
    let first_tick = spec.since_ms + (time_step - spec.since_ms.rem_euclid(time_step)) % time_step;
    let x_ticks = (0..)
        .map(|i| first_tick + i * time_step)
        .take_while(|t| *t <= spec.until_ms)
        .map(|t| Tick {
            pos: n(x_of(t)),
            label: utc(t, time_format),
        })
        .collect();

    let lines = spec
        .series
        .iter()
        .enumerate()
        .map(|(s, label)| {
            let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut prev: Option<i64> = None;
            for (t, values) in &rows {
                let Some(v) = values.get(s).copied().flatten().filter(|v| v.is_finite()) else {
                    prev = None;
                    continue;
                };
                let point = (x_of(t + spec.bucket_ms / 2), y_of(v));
                match (prev, runs.last_mut()) {
                    (Some(p), Some(run)) if t - p <= spec.max_gap_ms => run.push(point),
                    _ => runs.push(vec![point]),
                }
                prev = Some(*t);
            }
            Line {
                label: (*label).to_owned(),
                d: path_data(&runs),
                legend_x: n(PLOT_LEFT + s as f64 * 110.0),
            }
        })
        .collect();

    let bucket_w = (spec.bucket_ms as f64 / span * plot_w).max(1.0);
    let hovers = rows
        .iter()
        .map(|(t, values)| {
            let parts: Vec<String> = spec
                .series
                .iter()
                .zip(values)
                .filter_map(|(label, v)| v.map(|v| format!("{label} {} {}", value_text(v), spec.unit)))
                .collect();
            Hover {
                x: n(x_of(*t)),
                width: n(bucket_w),
                title: format!(
                    "{}: {}",
                    bucket_text(*t, spec.bucket_ms),
                    if parts.is_empty() {
                        "no value".to_owned()
                    } else {
                        parts.join(", ")
                    }
                ),
            }
        })
        .collect();

    LineChart {
        title: spec.title.to_owned(),
        width: n(CHART_W),
        height: n(CHART_H),
        left: n(PLOT_LEFT),
        right: n(PLOT_RIGHT),
        top: n(PLOT_TOP),
        bottom: n(PLOT_BOTTOM),
        plot_h: n(PLOT_BOTTOM - PLOT_TOP),
        empty,
        empty_x: n((PLOT_LEFT + PLOT_RIGHT) / 2.0),
        empty_y: n((PLOT_TOP + PLOT_BOTTOM) / 2.0),
        axis_y: n(CHART_H - 8.0),
        legend_y: n(PLOT_TOP - 14.0),
        y_ticks,
        x_ticks,
        lines,
        hovers,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    /// 2026-11-23 00:00 UTC.
    const T0: i64 = 1_795_392_000_000;

    fn bucket(bucket_ms: i64, checks: u64, failures: u64, latency_sum_ms: i64) -> UptimeBucket {
        UptimeBucket {
            bucket_ms,
            checks,
            failures,
            latency_sum_ms,
            latency_max_ms: latency_sum_ms,
        }
    }

    fn spec<'a>(series: &'a [&'a str]) -> ChartSpec<'a> {
        ChartSpec {
            title: "Response time",
            unit: "ms",
            since_ms: T0,
            until_ms: T0 + 24 * HOUR,
            bucket_ms: HOUR,
            max_gap_ms: HOUR,
            series,
        }
    }

    /// The `d` attributes of the chart's lines.
    fn paths(svg: &str) -> Vec<&str> {
        svg.split(" d=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect()
    }

    #[test]
    fn latencies_keep_three_significant_digits_and_no_trailing_zeros() {
        assert_eq!(ms_text(2_512.4), "2512 ms");
        assert_eq!(ms_text(100.0), "100 ms");
        assert_eq!(ms_text(41.56), "41.6 ms");
        assert_eq!(ms_text(12.5), "12.5 ms");
        assert_eq!(ms_text(3.254), "3.25 ms");
        assert_eq!(ms_text(3.0), "3 ms");
        assert_eq!(ms_text(0.0), "0 ms");
        assert_eq!(opt_ms_text(None), "—");
    }

    #[test]
    fn the_value_axis_ends_on_a_round_number_at_or_above_the_highest_value() {
        assert_eq!(nice_scale(100.0), (100.0, 25.0));
        assert_eq!(nice_scale(87.0), (100.0, 25.0));
        assert_eq!(nice_scale(101.0), (150.0, 50.0));
        assert_eq!(nice_scale(3.2), (4.0, 1.0));
        assert_eq!(nice_scale(0.0), (1.0, 0.25));
        assert_eq!(nice_scale(f64::NAN), (1.0, 0.25));
    }

    #[test]
    fn values_are_scaled_from_the_bottom_of_the_plot_to_its_top() {
        let rows = vec![
            (T0, vec![Some(0.0)]),
            (T0 + HOUR, vec![Some(50.0)]),
            (T0 + 2 * HOUR, vec![Some(100.0)]),
        ];
        let svg = line_chart(&spec(&["mean"]), &rows).unwrap();
        let d = paths(&svg);
        assert_eq!(d.len(), 1, "{svg}");
        // Bucket centres: half an hour in = 15 px of the 652 px wide plot spanning 24 hours.
        let half = 652.0 / 48.0;
        assert_eq!(
            d[0],
            format!(
                "M{} {} L{} {} L{} {}",
                n(PLOT_LEFT + half),
                n(PLOT_BOTTOM),
                n(PLOT_LEFT + 3.0 * half),
                n((PLOT_TOP + PLOT_BOTTOM) / 2.0),
                n(PLOT_LEFT + 5.0 * half),
                n(PLOT_TOP)
            )
        );
        assert!(svg.contains(">100 ms</text>"), "{svg}");
        assert!(svg.contains(">0 ms</text>"), "{svg}");
        assert!(svg.contains(">06:00</text>"), "{svg}");
    }

    #[test]
    fn missing_buckets_break_the_line_and_lone_points_are_dots() {
        let rows = vec![
            (T0, vec![Some(10.0), None]),
            (T0 + HOUR, vec![Some(12.0), Some(3.0)]),
            (T0 + 5 * HOUR, vec![Some(11.0), None]),
        ];
        let svg = line_chart(&spec(&["mean", "p95"]), &rows).unwrap();
        let d = paths(&svg);
        assert_eq!(d.len(), 2, "{svg}");
        assert_eq!(d[0].matches('M').count(), 2, "{}", d[0]);
        assert!(d[0].ends_with(" h0"), "{}", d[0]);
        assert_eq!(d[1].matches('M').count(), 1);
        assert!(svg.contains("mean 12 ms, p95 3 ms"), "{svg}");
    }

    #[test]
    fn an_empty_series_draws_axes_and_says_so() {
        let svg = line_chart(&spec(&["mean"]), &[]).unwrap();
        assert!(svg.contains("No data"), "{svg}");
        assert!(paths(&svg).is_empty(), "{svg}");
        let spark = sparkline(T0, HOUR, 24, &[]).unwrap();
        assert_eq!(spark.matches("spark-none").count(), 24, "{spark}");
        assert!(!spark.contains("spark-line"), "{spark}");
        assert!(spark.contains("No checks in this period"));
    }

    #[test]
    fn labels_and_titles_are_escaped() {
        let chart = ChartSpec {
            title: "<script>alert(1)</script>",
            ..spec(&["\"><img src=x onerror=alert(1)>"])
        };
        let svg = line_chart(&chart, &[(T0, vec![Some(5.0)])]).unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(!svg.contains("<img"), "{svg}");
        assert!(
            svg.contains("&#60;script&#62;") || svg.contains("&lt;script&gt;"),
            "{svg}"
        );
    }

    #[test]
    fn the_count_sparkline_draws_requests_with_their_5xx_part_scaled_to_the_busiest_minute() {
        let svg = count_sparkline(T0, &[(10, 0), (20, 5), (0, 0)]).unwrap();
        assert_eq!(svg.matches("class=\"spark-requests\"").count(), 3, "{svg}");
        // The busiest minute reaches the top padding; its 5xx a quarter of the drawable height.
        assert!(svg.contains(&format!("y=\"{}\" width", n(SPARK_PAD))), "{svg}");
        assert!(
            svg.contains(&format!("height=\"{}\"", n((SPARK_H - SPARK_PAD) / 4.0))),
            "{svg}"
        );
        assert!(svg.contains("00:01–00:02 UTC: 20 requests, 5 5xx"), "{svg}");
        assert!(svg.contains("30 requests, 5 5xx in this period"), "{svg}");
    }

    #[test]
    fn long_count_sparklines_sum_minutes_into_buckets_and_5xx_never_exceed_the_bar() {
        // A day of minutes: 24-minute buckets, 60 bars.
        let mut minutes = vec![(1, 0); 1440];
        minutes[0] = (0, 3);
        let svg = count_sparkline(T0, &minutes).unwrap();
        assert_eq!(svg.matches("class=\"spark-requests\"").count(), 60, "{svg}");
        assert!(svg.contains("00:00–00:24 UTC: 26 requests, 3 5xx"), "{svg}");
        let empty = count_sparkline(T0, &[(0, 0); 10]).unwrap();
        assert!(empty.contains("No requests in this period"), "{empty}");
    }

    #[test]
    fn the_sparkline_colours_hours_by_failures_and_draws_the_mean_latency() {
        let buckets = [
            bucket(T0, 60, 0, 6_000),
            bucket(T0 + HOUR, 432, 3, 43_200),
            bucket(T0 + 2 * HOUR, 60, 30, 12_000),
            // Outside the 24 hours: ignored.
            bucket(T0 + 30 * HOUR, 60, 60, 1),
        ];
        let svg = sparkline(T0, HOUR, 24, &buckets).unwrap();
        assert_eq!(svg.matches("class=\"spark-up\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("class=\"spark-degraded\"").count(), 1);
        assert_eq!(svg.matches("class=\"spark-down\"").count(), 1);
        assert_eq!(svg.matches("class=\"spark-none\"").count(), 21);
        assert!(
            svg.contains("01:00–02:00 UTC: 99.31% (3 failed of 432), mean 100 ms"),
            "{svg}"
        );
        // The slowest hour (mean 200 ms) touches the top; one line through three hours.
        let d = paths(&svg);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].matches('M').count(), 1, "{}", d[0]);
        assert!(d[0].contains(&format!(" {}", n(SPARK_PAD))), "{}", d[0]);
    }
}
