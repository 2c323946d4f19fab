//! `multipart/form-data` (RFC 7578 over RFC 2046 §5.1): the fields, sorted.

use super::cmp_utf16;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
use memchr::memmem;

/// One field of a `multipart/form-data` body, borrowed from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A part without a `filename`.
    Text {
        /// The `name` parameter, as sent (browsers send `"`, CR and LF as
        /// `%22`, `%0D` and `%0A`).
        name: &'a [u8],
        /// The part's content.
        value: &'a [u8],
    },
    /// A part with a `filename`.
    File {
        /// The `name` parameter, as sent.
        name: &'a [u8],
        /// The `filename` parameter, as sent.
        filename: &'a [u8],
        /// The part's `Content-Type`, lower case;
        /// `application/octet-stream` if absent.
        content_type: String,
        /// The part's content.
        content: &'a [u8],
    },
}

impl Entry<'_> {
    /// The field name.
    pub fn name(&self) -> &[u8] {
        match self {
            Self::Text { name, .. } | Self::File { name, .. } => name,
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Self::Text { .. } => b't',
            Self::File { .. } => b'f',
        }
    }

    /// The canonical order: name, then text before file, then the rest, each
    /// text compared by UTF-16 code units as `js/canonical.js` sorts.
    fn order(&self, other: &Self) -> Ordering {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let by_text = |a: &[u8], b: &[u8]| cmp_utf16(&text(a), &text(b)).then_with(|| a.cmp(b));
        by_text(self.name(), other.name())
            .then_with(|| other.kind().cmp(&self.kind()))
            .then_with(|| match (self, other) {
                (Self::Text { value: a, .. }, Self::Text { value: b, .. }) => by_text(a, b),
                (
                    Self::File {
                        filename: fa,
                        content_type: ta,
                        content: ca,
                        ..
                    },
                    Self::File {
                        filename: fb,
                        content_type: tb,
                        content: cb,
                        ..
                    },
                ) => by_text(fa, fb)
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| ca.len().cmp(&cb.len()))
                    .then_with(|| ca.cmp(cb)),
                _ => Ordering::Equal,
            })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.kind());
        match self {
            Self::Text { name, value } => {
                field(out, name);
                field(out, value);
            }
            Self::File {
                name,
                filename,
                content_type,
                content,
            } => {
                field(out, name);
                field(out, filename);
                field(out, content_type.as_bytes());
                field(out, content);
            }
        }
    }
}

/// `<decimal length>:<bytes>`
fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut digits = [0u8; 20];
    let mut n = bytes.len();
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
    out.push(b':');
    out.extend_from_slice(bytes);
}

/// The canonical form: the entries sorted, each written as `t` or `f` and
/// its fields. `None` if the body does not follow the grammar.
pub(super) fn canonical(boundary: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let mut entries = parse_multipart(boundary, body)?;
    entries.sort_by(Entry::order);
    let mut out = Vec::with_capacity(body.len());
    for entry in &entries {
        entry.write(&mut out);
    }
    Some(out)
}

/// The entries of a `multipart/form-data` body delimited by `boundary`, in
/// order; `None` if the body does not follow the grammar: a delimiter
/// (`--boundary`, at the start or after CRLF) then parts, each headers, an
/// empty line and content, up to the close delimiter (`--boundary--`). The
/// preamble and epilogue are ignored. Each part needs `Content-Disposition:
/// form-data` with a `name`; folded header lines and repeated parameters are
/// refused.
pub fn parse_multipart<'a>(boundary: &[u8], body: &'a [u8]) -> Option<Vec<Entry<'a>>> {
    if boundary.is_empty() {
        return None;
    }
    let mut delimiter = Vec::with_capacity(boundary.len() + 4);
    delimiter.extend_from_slice(b"\r\n--");
    delimiter.extend_from_slice(boundary);
    let finder = memmem::Finder::new(&delimiter);
    let dash_boundary = delimiter.get(2..)?;
    let mut rest = match body.strip_prefix(dash_boundary) {
        Some(rest) => rest,
        None => body.get(finder.find(body)? + delimiter.len()..)?,
    };
    let mut entries = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(entries);
        }
        // Transport padding, then the line break that ends the delimiter.
        let padding = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        rest = rest.get(padding..)?.strip_prefix(b"\r\n")?;
        let end = finder.find(rest)?;
        entries.push(part(rest.get(..end)?)?);
        rest = rest.get(end + delimiter.len()..)?;
    }
}

/// One body part: headers, an empty line, content.
fn part(part: &[u8]) -> Option<Entry<'_>> {
    let (headers, content) = match part.strip_prefix(b"\r\n") {
        Some(content) => (&b""[..], content),
        None => {
            let at = memmem::find(part, b"\r\n\r\n")?;
            (part.get(..at)?, part.get(at + 4..)?)
        }
    };
    let mut disposition = None;
    let mut content_type = None;
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return None; // obsolete line folding, or a stray line break
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = line.split_at(colon);
        let value = value.get(1..)?.trim_ascii();
        let slot = if name.eq_ignore_ascii_case(b"content-disposition") {
            &mut disposition
        } else if name.eq_ignore_ascii_case(b"content-type") {
            &mut content_type
        } else {
            continue;
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    let (name, filename) = form_data_disposition(disposition?)?;
    Some(match filename {
        None => Entry::Text {
            name,
            value: content,
        },
        Some(filename) => Entry::File {
            name,
            filename,
            content_type: match content_type {
                Some(t) if !t.is_empty() => String::from_utf8_lossy(t).to_ascii_lowercase(),
                _ => String::from("application/octet-stream"),
            },
            content,
        },
    })
}

/// `form-data; name="…"[; filename="…"]`: the name and file name. Other
/// parameters (such as `filename*`, which RFC 7578 says not to use) are
/// ignored; a repeated `name` or `filename` is refused.
fn form_data_disposition(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let semicolon = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    if !value
        .get(..semicolon)?
        .trim_ascii()
        .eq_ignore_ascii_case(b"form-data")
    {
        return None;
    }
    let mut rest = value.get(semicolon..)?;
    let (mut name, mut filename) = (None, None);
    while let Some(after) = rest.trim_ascii_start().strip_prefix(b";") {
        let after = after.trim_ascii_start();
        let eq = after.iter().position(|&b| b == b'=')?;
        let (param, after) = after.split_at(eq);
        let after = after.get(1..)?.trim_ascii_start();
        let (param_value, next) = match after.split_first() {
            // Browsers percent-encode '"' in names; no backslash escapes.
            Some((b'"', quoted)) => {
                let close = quoted.iter().position(|&b| b == b'"')?;
                (quoted.get(..close)?, quoted.get(close + 1..)?)
            }
            _ => {
                let end = after
                    .iter()
                    .position(|&b| !is_tchar(b))
                    .unwrap_or(after.len());
                after.split_at(end)
            }
        };
        let param = param.trim_ascii();
        if param.is_empty() || !param.iter().all(|&b| is_tchar(b)) {
            return None;
        }
        let slot = if param.eq_ignore_ascii_case(b"name") {
            &mut name
        } else if param.eq_ignore_ascii_case(b"filename") {
            &mut filename
        } else {
            rest = next;
            continue;
        };
        if slot.replace(param_value).is_some() {
            return None;
        }
        rest = next;
    }
    if !rest.trim_ascii().is_empty() {
        return None;
    }
    Some((name?, filename))
}

/// RFC 9110 §5.6.2 `tchar`: what an unquoted parameter name or value holds.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] = b"preamble\r\n--XyZ\r\n\
        Content-Disposition: form-data; name=\"title\"\r\n\r\n\
        Hello\r\nworld\r\n\
        --XyZ  \r\n\
        content-disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
        Content-Type: Text/Plain\r\n\r\n\
        file\r\n--not-the-boundary\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"empty\"\r\n\r\n\
        \r\n--XyZ--\r\nepilogue";

    #[test]
    fn parts_become_entries() {
        let entries = parse_multipart(b"XyZ", FORM).unwrap_or_default();
        assert_eq!(
            entries,
            [
                Entry::Text {
                    name: b"title",
                    value: b"Hello\r\nworld"
                },
                Entry::File {
                    name: b"doc",
                    filename: b"a.txt",
                    content_type: "text/plain".into(),
                    content: b"file\r\n--not-the-boundary",
                },
                Entry::Text {
                    name: b"empty",
                    value: b""
                },
            ]
        );
        assert_eq!(
            canonical(b"XyZ", FORM).as_deref(),
            Some(
                &b"f3:doc5:a.txt10:text/plain24:file\r\n--not-the-boundary\
                     t5:empty0:t5:title12:Hello\r\nworld"[..]
            )
        );
    }

    #[test]
    fn bodies_off_the_grammar_are_refused() {
        let cases: &[&[u8]] = &[
            b"",
            b"--XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno close",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ",
            b"--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"x\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n",
            b"--XyZx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nno colon\r\n\r\nv\r\n--XyZ--",
            // Found by fuzzing: an unquoted value must be a token (it held
            // '=' and '"', and could not be written back as one value).
            b"--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=ename=\"doc\"\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=a b\r\n\r\nv\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; na me=a\r\n\r\nv\r\n--XyZ--",
        ];
        for body in cases {
            assert_eq!(
                parse_multipart(b"XyZ", body),
                None,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(parse_multipart(b"XyZ", b"--XyZ--"), Some(Vec::new()));
        assert_eq!(parse_multipart(b"", b"----"), None);
    }

    #[test]
    fn parameters_may_be_tokens_and_other_parameters_are_ignored() {
        let body = b"--b\r\nContent-Disposition: form-data; NAME=n ; filename*=UTF-8''x; filename=\"f;g\"\r\n\r\nv\r\n--b--";
        assert_eq!(
            parse_multipart(b"b", body),
            Some(alloc::vec![Entry::File {
                name: b"n",
                filename: b"f;g",
                content_type: "application/octet-stream".into(),
                content: b"v",
            }])
        );
    }
}
