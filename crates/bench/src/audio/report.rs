//! The printed result: a table (figure, value, target, verdict) and one
//! final JSON line with every figure (`null` where it could not be had),
//! plus notes for what was skipped and why.

use serde_json::{Map, Value};

/// Median, p95 and max of a sample (nearest rank).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Values summarised.
    pub n: usize,
    /// 50th percentile.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
}

/// Summarises `values` (`None` if empty or not finite).
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some(Summary {
        n: v.len(),
        median: rank(0.5),
        p95: rank(0.95),
        max: v[v.len() - 1],
    })
}

/// Which way a target goes.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The value must be at most this.
    AtMost(f64),
    /// The value must be at least this.
    AtLeast(f64),
    /// No target.
    None,
}

impl Target {
    fn text(self) -> String {
        match self {
            Target::AtMost(t) => format!("<= {t}"),
            Target::AtLeast(t) => format!(">= {t}"),
            Target::None => String::new(),
        }
    }

    fn verdict(self, v: f64) -> &'static str {
        match self {
            Target::AtMost(t) if v <= t => "met",
            Target::AtLeast(t) if v >= t => "met",
            Target::None => "",
            _ => "MISSED",
        }
    }
}

/// Everything printed at the end.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<(String, String, String, String)>,
    notes: Vec<String>,
    json: Map<String, Value>,
}

impl Report {
    /// A figure with its JSON key, unit and target.
    pub fn figure(
        &mut self,
        key: &str,
        label: &str,
        value: Option<f64>,
        unit: &str,
        target: Target,
    ) {
        let (text, verdict) = match value {
            Some(v) => (format!("{v:.2} {unit}"), target.verdict(v).to_owned()),
            None => ("n/a".to_owned(), "n/a".to_owned()),
        };
        self.rows
            .push((label.to_owned(), text, target.text(), verdict));
        self.json.insert(
            key.to_owned(),
            value.map_or(Value::Null, |v| Value::from((v * 1000.0).round() / 1000.0)),
        );
    }

    /// A JSON-only value.
    pub fn value(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_owned(), value);
    }

    /// A line printed under the table (and kept in the JSON `notes`).
    pub fn note(&mut self, text: String) {
        eprintln!("note: {text}");
        self.notes.push(text);
    }

    /// The end of a bench run: the load average before (`load_before`,
    /// read at the start) and now, the temp folder kept if `keep` (else
    /// removed), then the table and the JSON line.
    pub fn finish(mut self, load_before: &str, tmp: tempfile::TempDir, keep: bool) {
        let load_after = crate::audio::load_average();
        self.value("load_before", Value::from(load_before));
        self.value("load_after", Value::from(load_after.as_str()));
        self.note(format!(
            "load average (1/5/15 min) before {load_before}, after {load_after}"
        ));
        if keep {
            let kept = tmp.keep();
            self.note(format!("logs and recordings kept in {}", kept.display()));
        }
        self.print();
    }

    /// Prints the table and the JSON line.
    pub fn print(mut self) {
        let w0 = self
            .rows
            .iter()
            .map(|r| r.0.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.1.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let w2 = self
            .rows
            .iter()
            .map(|r| r.2.len())
            .max()
            .unwrap_or(0)
            .max(6);
        println!();
        println!(
            "{:<w0$}  {:>w1$}  {:<w2$}  result",
            "figure", "value", "target"
        );
        println!("{}", "-".repeat(w0 + w1 + w2 + 12));
        for (label, value, target, verdict) in &self.rows {
            println!("{label:<w0$}  {value:>w1$}  {target:<w2$}  {verdict}");
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("note: {n}");
            }
        }
        self.json.insert(
            "notes".into(),
            Value::from(
                self.notes
                    .iter()
                    .map(|n| Value::from(n.as_str()))
                    .collect::<Vec<_>>(),
            ),
        );
        println!();
        println!("{}", Value::Object(self.json));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.n, s.median, s.p95, s.max), (5, 3.0, 5.0, 5.0));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarize(&v).unwrap();
        assert_eq!((s.median, s.p95), (50.0, 95.0));
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[f64::NAN]).is_none());
    }

    #[test]
    fn verdicts() {
        assert_eq!(Target::AtMost(60.0).verdict(59.0), "met");
        assert_eq!(Target::AtMost(60.0).verdict(61.0), "MISSED");
        assert_eq!(Target::AtLeast(4.0).verdict(3.9), "MISSED");
    }
}
