//! Plain-text tables of the human output (`history`, `jobs`): a header line, columns padded
//! to their widest cell, numbers aligned right; and sizes in human units.
//!
//! Commands describe their columns once ([`Column`]) and push rows of strings; adding a
//! column is one more entry in each list.

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers and sizes.
    Right,
}

/// One column: its header and alignment.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Header text (upper case by convention).
    pub header: &'static str,
    /// Alignment of the header and the cells.
    pub align: Align,
}

impl Column {
    /// A left-aligned column.
    pub const fn left(header: &'static str) -> Self {
        Column {
            header,
            align: Align::Left,
        }
    }

    /// A right-aligned column.
    pub const fn right(header: &'static str) -> Self {
        Column {
            header,
            align: Align::Right,
        }
    }
}

/// A table being filled; rendered by [`Table::render`].
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    lines: Vec<Line>,
}

#[derive(Debug, Clone)]
enum Line {
    /// Cells, one per column (missing cells are empty).
    Row(Vec<String>),
    /// Free text under the previous row (e.g. export attempts), indented, not in columns.
    Note(String),
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[Column]) -> Self {
        Table {
            columns: columns.to_vec(),
            lines: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.lines.push(Line::Row(cells));
    }

    /// Appends an indented free-text line under the previous row.
    pub fn note(&mut self, text: String) {
        self.lines.push(Line::Note(text));
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        !self.lines.iter().any(|l| matches!(l, Line::Row(_)))
    }

    /// The header and the rows, each line ending with `\n`, trailing spaces trimmed.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| width(c.header)).collect();
        for line in &self.lines {
            if let Line::Row(cells) = line {
                for (w, cell) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(width(cell));
                }
            }
        }
        let headers: Vec<&str> = self.columns.iter().map(|c| c.header).collect();
        let mut out = self.format_row(&headers, &widths);
        for line in &self.lines {
            match line {
                Line::Row(cells) => {
                    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                    out.push_str(&self.format_row(&cells, &widths));
                }
                Line::Note(text) => {
                    out.push_str("    ");
                    out.push_str(text);
                    out.push('\n');
                }
            }
        }
        out
    }

    fn format_row(&self, cells: &[&str], widths: &[usize]) -> String {
        let mut line = String::new();
        for (i, (column, w)) in self.columns.iter().zip(widths).enumerate() {
            let cell = cells.get(i).copied().unwrap_or("");
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(w.saturating_sub(width(cell)));
            match column.align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        let mut line = line.trim_end().to_string();
        line.push('\n');
        line
    }
}

/// Display width of a cell (characters; good enough for the names and dates we print).
fn width(text: &str) -> usize {
    text.chars().count()
}

/// `bytes` in binary units with one decimal: `512 B`, `1.5 KiB`, `23.4 MiB`, `2.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_printed_in_binary_units_with_one_decimal() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 + 1024 * 512), "5.5 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn columns_are_padded_to_their_widest_cell_under_a_header() {
        let mut t = Table::new(&[Column::left("JOB"), Column::right("SIZE")]);
        t.row(vec!["production".into(), "1.0 KiB".into()]);
        t.row(vec!["a".into(), "12 B".into()]);
        t.note("-> sftp ok".into());
        assert_eq!(
            t.render(),
            "JOB            SIZE\nproduction  1.0 KiB\na              12 B\n    -> sftp ok\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        let t = Table::new(&[Column::left("ID"), Column::left("NAME")]);
        assert!(t.is_empty());
        assert_eq!(t.render(), "ID  NAME\n");
    }
}
