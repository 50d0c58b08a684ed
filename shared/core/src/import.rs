//! Lead import: a CSV file read, validated, normalized and de-duplicated in
//! memory, before anything is written. Whole-file problems (not UTF-8, an
//! unclosed quote, no phone column) refuse the file; row problems reject the
//! row and say which line and why.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::email::Email;
use crate::error::Error;
use crate::ids::{CampaignId, LeadId, TenantId};
use crate::lead::{Lead, LeadStatus};
use crate::phone::{Phone, Region};
use crate::time::Zone;

/// The largest CSV body accepted. Lambda's synchronous payload limit is 6 MB
/// for the whole event, and API Gateway may base64-encode the body (4/3 larger),
/// so 4 MiB is what always fits.
pub const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;

/// At most this many problem rows are listed in a report (the counts stay exact),
/// so that the answer itself always fits in a Lambda response.
pub const MAX_LISTED_ROWS: usize = 10_000;

const MAX_TEXT: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Column {
    Number,
    Name,
    FirstName,
    LastName,
    Email,
    Whatsapp,
    Partner,
    Timezone,
}

impl Column {
    fn for_header(header: &str) -> Option<Column> {
        let h: String = header
            .trim()
            .trim_start_matches('\u{feff}')
            .chars()
            .map(|c| {
                if c == ' ' || c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        Some(match h.as_str() {
            "number" | "phone" | "phone_number" | "phonenumber" | "phone_no" | "mobile"
            | "mobile_number" | "mobile_phone" | "cell" | "cell_phone" | "telephone" | "tel"
            | "contact_number" | "to_number" => Column::Number,
            "name" | "full_name" | "fullname" | "lead_name" | "customer_name" | "contact_name" => {
                Column::Name
            }
            "first_name" | "firstname" | "given_name" => Column::FirstName,
            "last_name" | "lastname" | "surname" | "family_name" => Column::LastName,
            "email" | "e_mail" | "email_address" | "mail" => Column::Email,
            "whatsapp_number" | "whatsapp" | "wa_number" | "whatsapp_phone" => Column::Whatsapp,
            "partner" | "source" | "lead_source" | "partner_name" => Column::Partner,
            "timezone" | "time_zone" | "tz" => Column::Timezone,
            _ => return None,
        })
    }
}

/// One row that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// The line of the file the row starts on (the header is line 1).
    pub line: u64,
    pub reason: String,
}

/// A lead read from a row, not yet written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadRow {
    pub line: u64,
    pub phone: Phone,
    pub name: Option<String>,
    pub email: Option<Email>,
    pub whatsapp: Option<Phone>,
    pub partner: Option<String>,
    pub zone: Option<Zone>,
}

impl LeadRow {
    pub fn into_lead(self, tenant: &TenantId, campaign: &CampaignId, now: Timestamp) -> Lead {
        Lead {
            id: LeadId::derive(tenant, campaign, &self.phone),
            tenant: tenant.clone(),
            campaign: campaign.clone(),
            phone: self.phone,
            name: self.name,
            email: self.email,
            whatsapp: self.whatsapp,
            partner: self.partner,
            zone: self.zone,
            status: LeadStatus::New,
            attempts: 0,
            outcome: None,
            note: None,
            next_call: None,
            messages: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }
}

/// The file, read: rows to import, duplicates within it, rejected rows.
#[derive(Clone, Debug, Default)]
pub struct ParsedFile {
    pub rows: Vec<LeadRow>,
    pub duplicates: Vec<RowProblem>,
    pub rejected: Vec<RowProblem>,
    pub ignored_columns: Vec<String>,
}

/// What an import did, as the API answers it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub imported: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub rejected_rows: Vec<RowProblem>,
    pub duplicate_rows: Vec<RowProblem>,
    /// True when more problem rows existed than are listed.
    pub truncated: bool,
    pub ignored_columns: Vec<String>,
}

impl ImportReport {
    /// The report for a parsed file of which `existing` rows were already in the campaign.
    pub fn new(file: ParsedFile, imported: u64, already_in_campaign: Vec<RowProblem>) -> Self {
        let mut duplicate_rows = file.duplicates;
        duplicate_rows.extend(already_in_campaign);
        duplicate_rows.sort_by_key(|p| p.line);
        let (duplicates, rejected) = (duplicate_rows.len() as u64, file.rejected.len() as u64);
        let mut rejected_rows = file.rejected;
        let truncated =
            rejected_rows.len() > MAX_LISTED_ROWS || duplicate_rows.len() > MAX_LISTED_ROWS;
        rejected_rows.truncate(MAX_LISTED_ROWS);
        duplicate_rows.truncate(MAX_LISTED_ROWS);
        Self {
            imported,
            duplicates,
            rejected,
            rejected_rows,
            duplicate_rows,
            truncated,
            ignored_columns: file.ignored_columns,
        }
    }
}

/// Refuses a file larger than one request may carry.
pub fn check_size(bytes: &[u8]) -> Result<(), Error> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(Error::TooLarge(format!(
            "the file has {} bytes; at most {MAX_IMPORT_BYTES} bytes can be imported at once: split it",
            bytes.len()
        )));
    }
    Ok(())
}

/// Reads a CSV file of leads. `region` reads numbers written without a country code.
pub fn parse_csv(bytes: &[u8], region: Region) -> Result<ParsedFile, Error> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Malformed("the file is empty".into()));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        return Err(Error::Malformed(format!(
            "the file is not UTF-8 text (line {line}): save it as CSV UTF-8"
        )));
    }
    if let Some(line) = unclosed_quote(bytes) {
        return Err(Error::Malformed(format!(
            "a quoted field opened on line {line} is never closed"
        )));
    }

    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Error::Malformed(format!("the header row cannot be read: {e}")))?
        .clone();
    let columns = map_columns(&headers)?;
    let mut file = ParsedFile {
        ignored_columns: ignored(&headers, &columns),
        ..ParsedFile::default()
    };
    let mut first_line_of: HashMap<Phone, u64> = HashMap::new();

    let mut record = csv::StringRecord::new();
    // Lines are counted here rather than taken from the reader, which counts a
    // CRLF file's lines differently.
    let (mut line, mut counted_to) = (1u64, 0usize);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(Error::Malformed(format!(
                    "the file cannot be read as CSV: {e}"
                )));
            }
        }
        // After a CRLF the reader places the record on the LF itself: count it too.
        let starts_at = record.position().map_or(counted_to, |p| p.byte() as usize);
        let through = (starts_at + 1).min(bytes.len()).max(counted_to);
        line += bytes[counted_to..through]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        counted_to = through;
        match read_row(&record, &columns, headers.len(), region, line) {
            Err(reason) => file.rejected.push(RowProblem { line, reason }),
            Ok(row) => match first_line_of.get(&row.phone) {
                Some(first) => file.duplicates.push(RowProblem {
                    line,
                    reason: format!("same number as line {first}"),
                }),
                None => {
                    first_line_of.insert(row.phone.clone(), line);
                    file.rows.push(row);
                }
            },
        }
    }
    Ok(file)
}

/// The column index of each known column.
fn map_columns(headers: &csv::StringRecord) -> Result<HashMap<Column, usize>, Error> {
    let mut columns = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(col) = Column::for_header(h)
            && columns.insert(col, i).is_some()
        {
            return Err(Error::Malformed(format!(
                "the header has more than one {col:?} column ({h:?})"
            )));
        }
    }
    if !columns.contains_key(&Column::Number) {
        let found: Vec<&str> = headers.iter().collect();
        return Err(Error::Malformed(format!(
            "the file has no phone column (name one \"number\" or \"phone\"); its header is {found:?}"
        )));
    }
    Ok(columns)
}

fn ignored(headers: &csv::StringRecord, columns: &HashMap<Column, usize>) -> Vec<String> {
    headers
        .iter()
        .enumerate()
        .filter(|(i, _)| !columns.values().any(|c| c == i))
        .map(|(_, h)| h.to_owned())
        .collect()
}

fn read_row(
    record: &csv::StringRecord,
    columns: &HashMap<Column, usize>,
    width: usize,
    region: Region,
    line: u64,
) -> Result<LeadRow, String> {
    if record.iter().all(str::is_empty) {
        return Err("the row is empty".into());
    }
    if record.len() > width {
        return Err(format!(
            "the row has {} fields but the header has {width}",
            record.len()
        ));
    }
    let get = |col: Column| {
        columns
            .get(&col)
            .and_then(|&i| record.get(i))
            .filter(|v| !v.is_empty())
    };

    let phone = match get(Column::Number) {
        None => return Err("number: missing".into()),
        Some(raw) => Phone::parse(raw, Some(region)).map_err(|e| format!("number: {e}"))?,
    };
    let name = match (
        get(Column::Name),
        get(Column::FirstName),
        get(Column::LastName),
    ) {
        (Some(full), _, _) => Some(full.to_owned()),
        (None, Some(first), Some(last)) => Some(format!("{first} {last}")),
        (None, first, last) => first.or(last).map(str::to_owned),
    };
    let email = get(Column::Email)
        .map(|raw| Email::read(raw).ok_or("email: not an email address"))
        .transpose()?;
    let whatsapp = get(Column::Whatsapp)
        .map(|raw| Phone::parse(raw, Some(region)).map_err(|e| format!("whatsapp_number: {e}")))
        .transpose()?;
    let zone = get(Column::Timezone)
        .map(|raw| Zone::parse(raw).map_err(|e| e.reason))
        .transpose()?;
    let partner = get(Column::Partner).map(str::to_owned);
    for (field, value) in [("name", &name), ("partner", &partner)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
            return Err(format!("{field}: longer than {MAX_TEXT} characters"));
        }
    }
    Ok(LeadRow {
        line,
        phone,
        name,
        email,
        whatsapp,
        partner,
        zone,
    })
}

/// The line on which a quoted field opens and never closes, if any. A quote
/// only opens a field at its very start (RFC 4180); elsewhere it is a character.
fn unclosed_quote(bytes: &[u8]) -> Option<usize> {
    let (mut line, mut opened_on) = (1usize, 0usize);
    let (mut in_quotes, mut at_field_start) = (false, true);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
        }
        if in_quotes {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
        } else if b == b'"' && at_field_start {
            in_quotes = true;
            opened_on = line;
        }
        at_field_start = matches!(b, b',' | b'\n' | b'\r') || (at_field_start && b == b' ');
        i += 1;
    }
    in_quotes.then_some(opened_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Region {
        Region::parse("US").unwrap()
    }

    fn parse(csv: &str) -> ParsedFile {
        parse_csv(csv.as_bytes(), us()).unwrap()
    }

    fn malformed(csv: &[u8]) -> String {
        match parse_csv(csv, us()) {
            Err(Error::Malformed(m)) => m,
            other => panic!("expected a malformed-file error, got {other:?}"),
        }
    }

    #[test]
    fn a_clean_file_becomes_normalized_rows() {
        let f = parse(
            "number,name,email,whatsapp_number,partner,timezone\n\
             415.555.2671,Ada Lovelace,ADA@Example.COM,+1 415 555 2672,Physics wallah,America/Los_Angeles\n",
        );
        assert_eq!(f.rows.len(), 1);
        let row = &f.rows[0];
        assert_eq!(row.phone.e164(), "+14155552671");
        assert_eq!(
            row.email.as_ref().map(Email::expose),
            Some("ADA@example.com")
        );
        assert_eq!(row.whatsapp.as_ref().unwrap().e164(), "+14155552672");
        assert_eq!(row.zone.as_ref().unwrap().name(), "America/Los_Angeles");
        assert_eq!(row.line, 2);
    }

    #[test]
    fn headers_match_case_insensitively_and_by_alias() {
        let f =
            parse("Phone Number,Full-Name,Source,E-Mail,Notes\n4155552671,Ada,web,a@b.co,hello\n");
        let row = &f.rows[0];
        assert_eq!(
            (row.name.as_deref(), row.partner.as_deref()),
            (Some("Ada"), Some("web"))
        );
        assert_eq!(f.ignored_columns, vec!["Notes"]);
    }

    #[test]
    fn first_and_last_names_are_joined() {
        let f = parse("phone,first_name,last_name\n4155552671,Ada,Lovelace\n");
        assert_eq!(f.rows[0].name.as_deref(), Some("Ada Lovelace"));
    }

    #[test]
    fn the_same_number_twice_in_the_file_is_a_duplicate_of_the_first_line() {
        let f = parse("number\n4155552671\n+1 (415) 555-2671\n4155552672\n");
        assert_eq!(f.rows.len(), 2);
        assert_eq!(
            f.duplicates,
            vec![RowProblem {
                line: 3,
                reason: "same number as line 2".into()
            }]
        );
    }

    #[test]
    fn each_bad_row_is_rejected_with_its_line_and_reason() {
        let f = parse(
            "number,email,timezone\n\
             12,,\n\
             4155552671,not-an-email,\n\
             4155552672,,Mars/Base\n\
             ,a@b.co,\n\
             4155552673,,,extra\n\
             ,,\n\
             4155552674,,\n",
        );
        let reasons: Vec<(u64, &str)> = f
            .rejected
            .iter()
            .map(|p| (p.line, p.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (2, "number: phone number is too short"),
                (3, "email: not an email address"),
                (4, "\"Mars/Base\" is not an IANA time zone"),
                (5, "number: missing"),
                (6, "the row has 4 fields but the header has 3"),
                (7, "the row is empty"),
            ]
        );
        assert_eq!(f.rows.len(), 1);
    }

    #[test]
    fn quoted_fields_may_hold_commas_quotes_and_newlines() {
        let f = parse(
            "number,name\n4155552671,\"Lovelace, Ada \"\"The Countess\"\"\"\n4155552672,\"two\nlines\"\n4155552673,x\n",
        );
        assert_eq!(
            f.rows[0].name.as_deref(),
            Some("Lovelace, Ada \"The Countess\"")
        );
        assert_eq!(
            f.rows[2].line, 5,
            "line numbers count the newline inside the quotes"
        );
    }

    #[test]
    fn whole_file_problems_refuse_the_file() {
        assert_eq!(malformed(b""), "the file is empty");
        assert_eq!(malformed(b"\n \n"), "the file is empty");
        assert!(
            malformed(b"number,name\n4155552671,\"Ada\n4155552672,Bob\n")
                .contains("opened on line 2 is never closed")
        );
        assert!(
            malformed(b"number,name\n4155552671,Ad\xffa\n").contains("not UTF-8 text (line 2)")
        );
        assert!(malformed(b"name,email\nAda,a@b.co\n").contains("no phone column"));
        assert!(malformed(b"phone,mobile\n1,2\n").contains("more than one"));
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_just_a_character() {
        let f = parse("number,name\n4155552671,Ada 5'11\"\n");
        assert_eq!(f.rows[0].name.as_deref(), Some("Ada 5'11\""));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_header() {
        let f = parse_csv(b"\xef\xbb\xbfnumber\n4155552671\n", us()).unwrap();
        assert_eq!(f.rows.len(), 1);
    }

    #[test]
    fn a_file_over_the_limit_is_too_large() {
        assert!(check_size(&vec![b'1'; MAX_IMPORT_BYTES]).is_ok());
        assert!(matches!(
            check_size(&vec![b'1'; MAX_IMPORT_BYTES + 1]),
            Err(Error::TooLarge(_))
        ));
    }

    #[test]
    fn windows_line_endings_are_read() {
        let f = parse("number,name\r\n4155552671,Ada\r\n4155552672,Bob\r\n");
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[1].line, 3);
    }

    #[test]
    fn a_report_counts_everything_and_lists_duplicates_in_file_order() {
        let f = parse("number\n4155552671\n4155552671\n12\n4155552672\n");
        let report = ImportReport::new(
            f,
            1,
            vec![RowProblem {
                line: 5,
                reason: "already in the campaign".into(),
            }],
        );
        assert_eq!(
            (report.imported, report.duplicates, report.rejected),
            (1, 2, 1)
        );
        assert_eq!(
            report
                .duplicate_rows
                .iter()
                .map(|p| p.line)
                .collect::<Vec<_>>(),
            vec![3, 5]
        );
    }
}
