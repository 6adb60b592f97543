//! Moderator exports of an event's questions: CSV and JSON writers (pure).

use std::fmt::Write;

use crate::model::Question;

/// CSV columns, in order.
pub const CSV_HEADER: &str = "id,created_at,program_time,status,pinned,votes,viewer,name,text";

/// One CSV cell. Cells a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// tab, carriage return first) get a leading `'`; cells with separators, quotes
/// or line breaks are quoted with quotes doubled (RFC 4180).
pub fn csv_cell(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len() + 3);
    if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        s.push('\'');
    }
    s.push_str(raw);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// All questions as CSV, one line (record) per question, CRLF line ends.
pub fn to_csv(questions: &[Question]) -> String {
    let mut out = String::with_capacity(64 + questions.len() * 128);
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for q in questions {
        let program_time = q
            .program_time
            .map(|t| t.unix_millis().to_string())
            .unwrap_or_default();
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{}\r\n",
            q.id,
            q.created_at,
            program_time,
            q.status.as_str(),
            q.pinned,
            q.votes,
            csv_cell(&q.viewer),
            csv_cell(q.name.as_deref().unwrap_or("")),
            csv_cell(&q.text),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn cells() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn rows() {
        let q = Question {
            id: 1,
            event: "e".into(),
            viewer: "viewer01".into(),
            name: Some("Ada".into()),
            text: "<b>why</b>, really?".into(),
            created_at: 10,
            program_time: None,
            status: Status::Answered,
            pinned: false,
            votes: 2,
            answer: None,
        };
        let csv = to_csv(&[q]);
        assert_eq!(
            csv,
            format!(
                "{CSV_HEADER}\r\n1,10,,answered,false,2,viewer01,Ada,\"<b>why</b>, really?\"\r\n"
            )
        );
    }
}
