//! Lead import: a CSV file read, validated, normalized and de-duplicated in
//! memory, before anything is written. Whole-file problems (text in no
//! encoding it can be read in, an unclosed quote, no phone column) refuse the
//! file; row problems reject the row and say which line and why.
//!
//! Files are taken as spreadsheets save them: UTF-8 with or without a byte
//! order mark, UTF-16 (either byte order) with one, or Windows-1252 when the
//! bytes are not UTF-8 (the answer says which); a comma, semicolon or tab
//! between fields, whichever the header line holds most of; numbers as
//! people write them or as `tel:` URIs.

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::calling::lead::{Lead, LeadSource, LeadStatus};
use crate::kernel::email::Email;
use crate::kernel::error::Error;
use crate::kernel::ids::{CampaignId, LeadId, TenantId};
use crate::kernel::phone::{Phone, Region};
use crate::kernel::time::Zone;

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
    Language,
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
            "language" | "lang" | "locale" => Column::Language,
            _ => return None,
        })
    }
}

/// The encoding a file's bytes were read in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
    /// Read so because the bytes were not UTF-8 (Excel's "CSV" on Windows in
    /// Western Europe and the Americas; ISO-8859-1 reads the same).
    #[serde(rename = "windows-1252")]
    Windows1252,
}

/// The character between fields, found in the header line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delimiter {
    #[default]
    Comma,
    Semicolon,
    Tab,
}

impl Delimiter {
    const ALL: [Delimiter; 3] = [Delimiter::Comma, Delimiter::Semicolon, Delimiter::Tab];

    fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
        }
    }

    /// Whichever of comma, semicolon and tab the header line (the text up to
    /// the first line break outside quotes) holds most of outside quotes; a
    /// comma on a tie or when it holds none (a file of one column).
    fn of_header(text: &[u8]) -> Delimiter {
        let mut counts = [0usize; 3];
        let mut in_quotes = false;
        for &b in text {
            match b {
                b'"' => in_quotes = !in_quotes,
                b'\n' | b'\r' if !in_quotes => break,
                _ if in_quotes => {}
                b',' => counts[0] += 1,
                b';' => counts[1] += 1,
                b'\t' => counts[2] += 1,
                _ => {}
            }
        }
        let mut best = Delimiter::Comma;
        for (d, n) in Delimiter::ALL.into_iter().zip(counts) {
            if n > counts[best as usize] {
                best = d;
            }
        }
        best
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
    /// The language to write to the lead in (`es`, `pt-BR`): its messages'
    /// templates are looked up in it first.
    pub language: Option<String>,
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
            language: self.language,
            source: LeadSource::Import,
            preferred_phone: None,
            from_call: Vec::new(),
            status: LeadStatus::New,
            attempts: 0,
            outcome: None,
            note: None,
            next_call: None,
            messages: Vec::new(),
            messaging: Default::default(),
            created_at: now,
            updated_at: now,
            version: 0,
            effects: Default::default(),
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
    pub encoding: Encoding,
    pub delimiter: Delimiter,
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
    /// How the file's bytes were read as text.
    pub encoding: Encoding,
    pub delimiter: Delimiter,
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
            encoding: file.encoding,
            delimiter: file.delimiter,
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

/// The text of a file as spreadsheets save it, and the encoding it was read
/// in: UTF-8 with or without a byte order mark; UTF-16 little- or big-endian
/// with one; otherwise, when the bytes are not UTF-8, Windows-1252. No byte
/// is ever replaced: text that none of these reads whole (a UTF-8 file with
/// a broken character after its byte order mark, a byte Windows-1252 leaves
/// undefined, UTF-8 and other bytes mixed in one file) refuses the file,
/// saying on which line.
pub fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, Encoding), Error> {
    const SAVE_AS: &str = "save it as CSV UTF-8";
    let line_at = |offset: usize| 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count();
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return match std::str::from_utf8(rest) {
            Ok(text) => Ok((Cow::Borrowed(text), Encoding::Utf8)),
            Err(e) => Err(Error::Malformed(format!(
                "the file says it is UTF-8 but is not UTF-8 text (line {}): {SAVE_AS}",
                line_at(3 + e.valid_up_to())
            ))),
        };
    }
    for (bom, encoding) in [
        (b"\xff\xfe", Encoding::Utf16Le),
        (b"\xfe\xff", Encoding::Utf16Be),
    ] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            return utf16(rest, encoding == Encoding::Utf16Le).map(|t| (Cow::Owned(t), encoding));
        }
    }
    let first_bad = match std::str::from_utf8(bytes) {
        Ok(text) => return Ok((Cow::Borrowed(text), Encoding::Utf8)),
        Err(e) => e.valid_up_to(),
    };
    // UTF-8 characters among bytes that are not: two encodings in one file
    // (rows pasted from elsewhere). Read as Windows-1252, the UTF-8 ones
    // would silently become other characters.
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        if let Some(i) = chunk.valid().bytes().position(|b| !b.is_ascii()) {
            return Err(Error::Malformed(format!(
                "the file mixes encodings: line {} is UTF-8 text but line {} is not: {SAVE_AS}",
                line_at(offset + i),
                line_at(first_bad)
            )));
        }
        offset += chunk.valid().len() + chunk.invalid().len();
    }
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 8);
    for (i, &b) in bytes.iter().enumerate() {
        match windows_1252(b) {
            Some(c) => text.push(c),
            None => {
                return Err(Error::Malformed(format!(
                    "the file is not UTF-8 text (line {}), nor Windows-1252 (byte 0x{b:02X} means nothing there): {SAVE_AS}",
                    line_at(i)
                )));
            }
        }
    }
    Ok((Cow::Owned(text), Encoding::Windows1252))
}

/// UTF-16 code units after the byte order mark, each character checked.
fn utf16(bytes: &[u8], little_endian: bool) -> Result<String, Error> {
    if !bytes.len().is_multiple_of(2) {
        return Err(Error::Malformed(
            "the file says it is UTF-16 but ends in the middle of a character: save it as CSV UTF-8"
                .into(),
        ));
    }
    let units = bytes.chunks_exact(2).map(|p| {
        if little_endian {
            u16::from_le_bytes([p[0], p[1]])
        } else {
            u16::from_be_bytes([p[0], p[1]])
        }
    });
    let mut text = String::with_capacity(bytes.len() / 2);
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => text.push(c),
            Err(_) => {
                let line = 1 + text.matches('\n').count();
                return Err(Error::Malformed(format!(
                    "the file says it is UTF-16 but is not UTF-16 text (line {line}): save it as CSV UTF-8"
                )));
            }
        }
    }
    Ok(text)
}

/// The character of a Windows-1252 byte; `None` for the five bytes it leaves
/// undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D). From 0xA0 up it is ISO-8859-1.
fn windows_1252(b: u8) -> Option<char> {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\0', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
        '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\0', '\u{017D}', '\0', '\0',
        '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
        '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\0', '\u{017E}', '\u{0178}',
    ];
    match b {
        0x80..=0x9F => Some(HIGH[usize::from(b - 0x80)]).filter(|&c| c != '\0'),
        _ => Some(char::from(b)),
    }
}

/// Reads a CSV file of leads. `region` reads numbers written without a country code.
pub fn parse_csv(bytes: &[u8], region: Region) -> Result<ParsedFile, Error> {
    let (text, encoding) = decode(bytes)?;
    let bytes = text.as_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Malformed("the file is empty".into()));
    }
    let delimiter = Delimiter::of_header(bytes);
    if let Some(line) = unclosed_quote(bytes, delimiter.byte()) {
        return Err(Error::Malformed(format!(
            "a quoted field opened on line {line} is never closed"
        )));
    }

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter.byte())
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
        encoding,
        delimiter,
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
        Some(raw) => read_phone(raw, region).map_err(|e| format!("number: {e}"))?,
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
        .map(|raw| read_phone(raw, region).map_err(|e| format!("whatsapp_number: {e}")))
        .transpose()?;
    let zone = get(Column::Timezone)
        .map(|raw| Zone::parse(raw).map_err(|e| e.reason))
        .transpose()?;
    let partner = get(Column::Partner).map(str::to_owned);
    let language = get(Column::Language)
        .map(|raw| {
            let tag = raw.trim();
            let ok = (2..=12).contains(&tag.len())
                && tag.split(['-', '_']).all(|part| {
                    !part.is_empty()
                        && part.len() <= 8
                        && part.bytes().all(|b| b.is_ascii_alphanumeric())
                });
            ok.then(|| tag.replace('_', "-"))
                .ok_or("language: not a language tag (en, es, pt-BR)")
        })
        .transpose()?;
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
        language,
    })
}

/// A number as people write it, or as a `tel:` URI.
fn read_phone(raw: &str, region: Region) -> Result<Phone, String> {
    let number = tel_uri(raw)?;
    Phone::parse(&number, Some(region)).map_err(|e| e.to_string())
}

/// The number a `tel:` URI (RFC 3966) holds, as a number people write; any
/// other text as it is. `tel:+1-415-555-0100` is `+1-415-555-0100` (visual
/// separators as the parser takes them). A local number takes its
/// `phone-context` when that is a number prefix (`tel:555-0100;phone-context=+1-415`)
/// and is read in the tenant's region when it has none; a number local to a
/// domain cannot be dialled. An extension or subaddress (`;ext=12`, `;isub=`)
/// rejects the row: a call cannot reach one, and calling the main number
/// instead would call someone else. Other parameters change nothing.
fn tel_uri(raw: &str) -> Result<Cow<'_, str>, String> {
    let Some(uri) = raw
        .get(..4)
        .filter(|scheme| scheme.eq_ignore_ascii_case("tel:"))
        .map(|_| &raw[4..])
    else {
        return Ok(Cow::Borrowed(raw));
    };
    let uri = percent_decoded(uri).ok_or("the tel: URI has a broken %-escape")?;
    let uri = uri.strip_prefix("//").unwrap_or(&uri);
    let mut parts = uri.split(';');
    let number = parts.next().unwrap_or_default().trim();
    let mut context = None;
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "ext" => {
                return Err(format!(
                    "the number has an extension ({}), which a call cannot reach",
                    param.trim()
                ));
            }
            "isub" => {
                return Err(format!(
                    "the number has a subaddress ({}), which a call cannot reach",
                    param.trim()
                ));
            }
            "phone-context" => context = Some(value.trim()),
            _ => {}
        }
    }
    Ok(Cow::Owned(match context {
        Some(prefix) if !number.starts_with('+') => {
            if !prefix.starts_with('+') {
                return Err(format!(
                    "the number is local to {prefix:?}, not one that can be dialled from anywhere"
                ));
            }
            format!("{prefix}{number}")
        }
        _ => number.to_owned(),
    }))
}

/// Text with its `%XX` escapes decoded; `None` when an escape is broken or
/// decodes to something that is not UTF-8.
fn percent_decoded(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('%') {
        return Some(Cow::Borrowed(text));
    }
    let (bytes, mut out, mut i) = (text.as_bytes(), Vec::with_capacity(text.len()), 0);
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The line on which a quoted field opens and never closes, if any. A quote
/// only opens a field at its very start (RFC 4180); elsewhere it is a character.
fn unclosed_quote(bytes: &[u8], delimiter: u8) -> Option<usize> {
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
        at_field_start =
            b == delimiter || matches!(b, b'\n' | b'\r') || (at_field_start && b == b' ');
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
            "number,name,email,whatsapp_number,partner,timezone,language\n\
             415.555.2671,Ada Lovelace,ADA@Example.COM,+1 415 555 2672,Physics wallah,America/Los_Angeles,es_MX\n",
        );
        assert_eq!(f.rows.len(), 1);
        assert_eq!(f.rows[0].language.as_deref(), Some("es-MX"));
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
    fn a_language_that_is_not_a_tag_rejects_the_row() {
        let f = parse("number,language\n4155552671,Spanish please\n");
        assert!(f.rows.is_empty());
        assert!(
            f.rejected[0].reason.contains("language"),
            "{:?}",
            f.rejected
        );
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
            malformed(b"number,name\n4155552671,Ad\x81a\n").contains("not UTF-8 text (line 2)")
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

    fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
        let mut bytes = if little_endian {
            vec![0xff, 0xfe]
        } else {
            vec![0xfe, 0xff]
        };
        for unit in text.encode_utf16() {
            bytes.extend(if little_endian {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        bytes
    }

    #[test]
    fn utf8_is_read_with_or_without_a_byte_order_mark() {
        let plain = "number,name\n4155552671,Zoë Ångström\n";
        for bytes in [
            plain.as_bytes().to_vec(),
            [b"\xef\xbb\xbf", plain.as_bytes()].concat(),
        ] {
            let f = parse_csv(&bytes, us()).unwrap();
            assert_eq!(f.encoding, Encoding::Utf8);
            assert_eq!(f.rows[0].name.as_deref(), Some("Zoë Ångström"));
        }
        assert!(
            malformed(b"\xef\xbb\xbfnumber,name\n4155552671,Zo\xebe\n")
                .contains("says it is UTF-8 but is not UTF-8 text (line 2)")
        );
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_read_in_either_byte_order() {
        // Excel's "Unicode Text": UTF-16LE with a byte order mark, tabs between fields.
        let text = "Phone\tName\r\n4155552671\tZoë 𝄞 Ångström\r\n4155552672\tBob\r\n";
        for (little_endian, encoding) in [(true, Encoding::Utf16Le), (false, Encoding::Utf16Be)] {
            let f = parse_csv(&utf16(text, little_endian), us()).unwrap();
            assert_eq!((f.encoding, f.delimiter), (encoding, Delimiter::Tab));
            assert_eq!(f.rows.len(), 2, "{encoding:?}");
            assert_eq!(f.rows[0].name.as_deref(), Some("Zoë 𝄞 Ångström"));
            assert_eq!(f.rows[1].line, 3);
        }
        let mut odd = utf16(text, true);
        odd.push(b'x');
        assert!(malformed(&odd).contains("ends in the middle of a character"));
        let mut lone_surrogate = utf16("number\n4155552671\n", true);
        lone_surrogate.extend([0x00, 0xd8, b'1', 0x00]);
        assert!(malformed(&lone_surrogate).contains("is not UTF-16 text (line 3)"));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_read_as_windows_1252_and_the_answer_says_so() {
        let f = parse_csv(
            b"number;name\n4155552671;M\xfcller \x80\x96 Caf\xe9 \x93Le Ch\xe2teau\x94\n",
            us(),
        )
        .unwrap();
        assert_eq!(
            f.rows[0].name.as_deref(),
            Some("Müller €– Café “Le Château”")
        );
        let report = serde_json::to_value(ImportReport::new(f, 1, Vec::new())).unwrap();
        assert_eq!(
            (&report["encoding"], &report["delimiter"]),
            (
                &serde_json::json!("windows-1252"),
                &serde_json::json!("semicolon")
            )
        );
        let plain = serde_json::to_value(ImportReport::new(
            parse("number\n4155552671\n"),
            1,
            Vec::new(),
        ))
        .unwrap();
        assert_eq!(
            (&plain["encoding"], &plain["delimiter"]),
            (&serde_json::json!("utf-8"), &serde_json::json!("comma"))
        );
    }

    #[test]
    fn windows_1252_maps_its_high_bytes_and_leaves_five_undefined() {
        let mapped: Vec<(u8, Option<char>)> = [0x41, 0x80, 0x8a, 0x92, 0x9f, 0xa0, 0xe9, 0xff]
            .into_iter()
            .map(|b| (b, windows_1252(b)))
            .collect();
        assert_eq!(
            mapped,
            vec![
                (0x41, Some('A')),
                (0x80, Some('€')),
                (0x8a, Some('Š')),
                (0x92, Some('’')),
                (0x9f, Some('Ÿ')),
                (0xa0, Some('\u{a0}')),
                (0xe9, Some('é')),
                (0xff, Some('ÿ')),
            ]
        );
        let undefined: Vec<u8> = (0..=255).filter(|&b| windows_1252(b).is_none()).collect();
        assert_eq!(undefined, vec![0x81, 0x8d, 0x8f, 0x90, 0x9d]);
        let message = malformed(b"number,name\n4155552671,Ada\n4155552672,B\x9dob\n");
        assert!(
            message.contains("line 3") && message.contains("0x9D"),
            "{message}"
        );
    }

    #[test]
    fn utf8_mixed_with_bytes_that_are_not_is_refused_not_misread() {
        let message = malformed(b"number,name\n4155552671,Zo\xc3\xab\n4155552672,M\xfcller\n");
        assert!(
            message.contains("mixes encodings: line 2 is UTF-8 text but line 3 is not"),
            "{message}"
        );
    }

    #[test]
    fn the_delimiter_is_the_one_the_header_holds_most_of_outside_quotes() {
        let semicolons = parse("number;name;email\n4155552671;Lovelace, Ada;ada@example.com\n");
        assert_eq!(semicolons.delimiter, Delimiter::Semicolon);
        assert_eq!(semicolons.rows[0].name.as_deref(), Some("Lovelace, Ada"));
        assert_eq!(
            semicolons.rows[0].email.as_ref().map(|e| e.expose()),
            Some("ada@example.com")
        );

        let tabs = parse("number\tname\n4155552671\tAda; Countess\n");
        assert_eq!(tabs.delimiter, Delimiter::Tab);
        assert_eq!(tabs.rows[0].name.as_deref(), Some("Ada; Countess"));

        // Quoted semicolons in a comma header are not delimiters.
        let quoted = parse("\"notes; more\",\"tags;a;b\",number\nx,y,4155552671\n");
        assert_eq!(quoted.delimiter, Delimiter::Comma);
        assert_eq!(quoted.ignored_columns, vec!["notes; more", "tags;a;b"]);
        assert_eq!(quoted.rows.len(), 1);

        // One column: no delimiter in the header at all.
        assert_eq!(parse("number\n4155552671\n").delimiter, Delimiter::Comma);

        // A quote opens a field after a semicolon too.
        assert!(
            malformed(b"number;name\n4155552671;\"Ada\n4155552672;Bob\n")
                .contains("opened on line 2 is never closed")
        );
    }

    #[test]
    fn numbers_may_be_written_as_tel_uris() {
        let f = parse(
            "number,whatsapp_number\n\
             tel:+1-415-555-2671,TEL:+1.415.555.2681\n\
             tel:555-2672;phone-context=+1-415,\n\
             tel:4155552673,\n\
             tel:%2B1-415-555-2674;foo=bar,\n\
             tel:+1-415-555-2675;ext=12,\n\
             tel:2676;phone-context=example.com,\n\
             4155552677,tel:+1-415-555-2687;isub=1411\n\
             tel:+1-415-555-2678%,\n",
        );
        let phones: Vec<&str> = f.rows.iter().map(|r| r.phone.e164()).collect();
        assert_eq!(
            phones,
            vec![
                "+14155552671",
                "+14155552672",
                "+14155552673",
                "+14155552674"
            ]
        );
        assert_eq!(f.rows[0].whatsapp.as_ref().unwrap().e164(), "+14155552681");
        let reasons: Vec<(u64, &str)> = f
            .rejected
            .iter()
            .map(|p| (p.line, p.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (
                    6,
                    "number: the number has an extension (ext=12), which a call cannot reach"
                ),
                (
                    7,
                    "number: the number is local to \"example.com\", not one that can be dialled from anywhere"
                ),
                (
                    8,
                    "whatsapp_number: the number has a subaddress (isub=1411), which a call cannot reach"
                ),
                (9, "number: the tel: URI has a broken %-escape"),
            ]
        );
    }
}
