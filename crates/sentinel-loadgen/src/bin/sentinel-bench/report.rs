//! A two-column text table for the human-readable part of a report.

pub struct Table {
    title: String,
    rows: Vec<(String, String)>,
}

impl Table {
    pub fn new(title: &str) -> Self {
        Table {
            title: title.to_owned(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, label: &str, value: String) {
        self.rows.push((label.to_owned(), value));
    }

    pub fn print(&self) {
        let width = self
            .rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        println!("{}", self.title);
        println!("{}", "-".repeat(self.title.chars().count()));
        for (label, value) in &self.rows {
            println!("{label:<width$}  {value}");
        }
    }
}
