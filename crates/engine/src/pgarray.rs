//! PostgreSQL's array literal (`{a,"b c",NULL}`, `{{1,2},{3,4}}`): read into dimensions and
//! element texts, and written back exactly as PostgreSQL's own `array_out` writes it, so a
//! value that only passes through keeps its text.
//!
//! Only the text of the elements is handled here: what an element means is its type's
//! business (codec.rs decodes and checks each one).

/// An array literal read: the length of each dimension and the elements in row-major order
/// (None: NULL). The empty array `{}` has no dimensions and no elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub dims: Vec<u32>,
    pub elements: Vec<Option<String>>,
}

/// Reads an array literal as PostgreSQL prints it (delimiter `,`). Ok(None) when it carries
/// explicit bounds (`[0:1]={7,8}`), which the dimensions alone cannot say; Err when it is not
/// an array literal, or its sub-arrays differ in length.
pub fn parse(text: &str) -> Result<Option<Parsed>, String> {
    let text = text.trim_matches(is_space);
    if text.starts_with('[') {
        return Ok(None);
    }
    let mut reader = Reader {
        bytes: text.as_bytes(),
        at: 0,
        dims: Vec::new(),
        elements: Vec::new(),
        leaf_depth: None,
    };
    reader.sub_array(0)?;
    reader.skip_space();
    if reader.at != reader.bytes.len() {
        return Err(format!(
            "array literal {text:?}: unexpected text after the closing brace"
        ));
    }
    let dims = if reader.elements.is_empty() {
        Vec::new()
    } else {
        reader
            .dims
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    };
    Ok(Some(Parsed {
        dims,
        elements: reader.elements,
    }))
}

/// Writes an array literal from its dimensions and element texts (None: NULL), quoting an
/// element exactly when PostgreSQL's `array_out` would. Err when the dimensions do not hold
/// the elements.
pub fn format(dims: &[u32], elements: &[Option<String>]) -> Result<String, String> {
    let count: u64 = dims.iter().map(|d| u64::from(*d)).product();
    let holds = if dims.is_empty() || dims.contains(&0) {
        elements.is_empty()
    } else {
        count == elements.len() as u64
    };
    if !holds {
        return Err(format!(
            "an array of dims {dims:?} holds {} elements, not {}",
            if dims.is_empty() { 0 } else { count },
            elements.len()
        ));
    }
    if elements.is_empty() {
        return Ok("{}".to_string());
    }
    let mut out = String::new();
    let mut next = elements.iter();
    write_dim(&mut out, dims, &mut next);
    Ok(out)
}

fn write_dim<'a>(
    out: &mut String,
    dims: &[u32],
    next: &mut impl Iterator<Item = &'a Option<String>>,
) {
    out.push('{');
    for i in 0..dims[0] {
        if i > 0 {
            out.push(',');
        }
        if dims.len() > 1 {
            write_dim(out, &dims[1..], next);
        } else {
            match next.next().and_then(Option::as_deref) {
                None => out.push_str("NULL"),
                Some(text) => write_element(out, text),
            }
        }
    }
    out.push('}');
}

/// `items` (row-major) nested as `dims` say, each list made by `list`: `[[1,2],[3,4]]` for
/// dims [2, 2]. Flat when the dims do not hold the items.
pub fn nest<T>(dims: &[u32], items: Vec<T>, list: &dyn Fn(Vec<T>) -> T) -> T {
    let count: usize = dims.iter().map(|d| *d as usize).product();
    if dims.len() < 2 || count != items.len() {
        return list(items);
    }
    let inner: usize = dims[1..].iter().map(|d| *d as usize).product();
    let mut rest = items.into_iter();
    let rows = (0..dims[0])
        .map(|_| nest(&dims[1..], rest.by_ref().take(inner).collect(), list))
        .collect();
    list(rows)
}

/// `array_out`'s rule: quoted when empty, `NULL` in any case, or holding a brace, a quote, a
/// backslash, the delimiter or white space; inside quotes, `"` and `\` are escaped.
fn write_element(out: &mut String, text: &str) {
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text
            .chars()
            .any(|c| matches!(c, '{' | '}' | '"' | '\\' | ',') || is_space(c));
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// PostgreSQL's `array_isspace`.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// The text of a float8 (or float4) as PostgreSQL prints it: the shortest exact digits,
/// in exponent form below 1e-4 and from 1e15 (`1.5`, `-2.25e-10`, `1e+20`, `Infinity`).
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} has an integer exponent");
    if f != 0.0 && !(-4..15).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{f}")
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The length of each dimension, learned from the first sub-array of each depth to close.
    dims: Vec<Option<u32>>,
    elements: Vec<Option<String>>,
    /// The depth of the elements: all are at the same one.
    leaf_depth: Option<usize>,
}

impl Reader<'_> {
    fn skip_space(&mut self) {
        while self.at < self.bytes.len() && is_space(self.bytes[self.at] as char) {
            self.at += 1;
        }
    }

    fn error(&self, what: &str) -> String {
        format!(
            "array literal {:?}: {what} at byte {}",
            String::from_utf8_lossy(self.bytes),
            self.at
        )
    }

    /// One `{...}` at `depth`, its elements appended.
    fn sub_array(&mut self, depth: usize) -> Result<(), String> {
        self.skip_space();
        if self.bytes.get(self.at) != Some(&b'{') {
            return Err(self.error("expected `{`"));
        }
        self.at += 1;
        let mut count = 0u32;
        let mut nested = None;
        loop {
            self.skip_space();
            match self.bytes.get(self.at) {
                None => return Err(self.error("unterminated")),
                Some(b'}') if count == 0 => {
                    self.at += 1;
                    break;
                }
                _ => {}
            }
            let is_nested = self.bytes.get(self.at) == Some(&b'{');
            if *nested.get_or_insert(is_nested) != is_nested {
                return Err(self.error("elements and sub-arrays mixed"));
            }
            if is_nested {
                self.sub_array(depth + 1)?;
            } else {
                if *self.leaf_depth.get_or_insert(depth) != depth {
                    return Err(self.error("elements at different depths"));
                }
                let element = self.element()?;
                self.elements.push(element);
            }
            count += 1;
            self.skip_space();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
        if self.dims.len() <= depth {
            self.dims.resize(depth + 1, None);
        }
        match self.dims[depth] {
            None => self.dims[depth] = Some(count),
            Some(d) if d == count => {}
            Some(_) => return Err(self.error("sub-arrays of different lengths")),
        }
        Ok(())
    }

    /// One element: quoted (escapes undone) or bare (`NULL` unquoted is NULL).
    fn element(&mut self) -> Result<Option<String>, String> {
        let mut text = Vec::new();
        if self.bytes.get(self.at) == Some(&b'"') {
            self.at += 1;
            loop {
                match self.bytes.get(self.at) {
                    None => return Err(self.error("unterminated quoted element")),
                    Some(b'"') => {
                        self.at += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&escaped) = self.bytes.get(self.at + 1) else {
                            return Err(self.error("unterminated escape"));
                        };
                        text.push(escaped);
                        self.at += 2;
                    }
                    Some(&b) => {
                        text.push(b);
                        self.at += 1;
                    }
                }
            }
        } else {
            let mut escaped_any = false;
            while let Some(&b) = self.bytes.get(self.at) {
                match b {
                    b',' | b'}' => break,
                    b'\\' => {
                        let Some(&escaped) = self.bytes.get(self.at + 1) else {
                            return Err(self.error("unterminated escape"));
                        };
                        text.push(escaped);
                        escaped_any = true;
                        self.at += 2;
                    }
                    b'{' | b'"' => return Err(self.error("unexpected character in an element")),
                    _ => {
                        text.push(b);
                        self.at += 1;
                    }
                }
            }
            while text.last().is_some_and(|b| is_space(*b as char)) {
                text.pop();
            }
            if !escaped_any && text.eq_ignore_ascii_case(b"NULL") {
                return Ok(None);
            }
        }
        String::from_utf8(text)
            .map(Some)
            .map_err(|_| self.error("an element is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(texts: &[&str]) -> Vec<Option<String>> {
        texts.iter().map(|t| Some(t.to_string())).collect()
    }

    #[test]
    fn reads_what_postgresql_prints() {
        let p = parse(r#"{a,"c d",NULL,"NULL","",x\,y}"#).unwrap().unwrap();
        assert_eq!(p.dims, vec![6]);
        assert_eq!(
            p.elements,
            vec![
                Some("a".into()),
                Some("c d".into()),
                None,
                Some("NULL".into()),
                Some(String::new()),
                Some("x,y".into())
            ]
        );
        let p = parse("{{1,2},{3,4},{5,6}}").unwrap().unwrap();
        assert_eq!(p.dims, vec![3, 2]);
        assert_eq!(p.elements, some(&["1", "2", "3", "4", "5", "6"]));
        assert_eq!(
            parse("{}").unwrap().unwrap(),
            Parsed {
                dims: vec![],
                elements: vec![]
            }
        );
        assert_eq!(
            parse(r#"{"a\"b\\c"}"#).unwrap().unwrap().elements,
            some(&[r#"a"b\c"#])
        );
        assert_eq!(parse("[0:1]={7,8}").unwrap(), None);
    }

    #[test]
    fn refuses_what_is_not_an_array() {
        for bad in [
            "",
            "abc",
            "{1,2",
            "{{1,2},{3}}",
            "{1,{2}}",
            "{{1},{{2}}}",
            "{1} x",
            r#"{"a}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was read");
        }
    }

    #[test]
    fn writes_what_postgresql_prints_and_reads_it_back() {
        for literal in [
            "{}",
            "{1,-2}",
            r#"{a,"c d",NULL,"NULL","",",","{}","a\"b","e\\f"}"#,
            "{{1,2},{3,4}}",
            r#"{{"2024-02-29 10:11:12",NULL}}"#,
            "{{{1},{2}},{{3},{4}}}",
        ] {
            let p = parse(literal).unwrap().unwrap();
            assert_eq!(format(&p.dims, &p.elements).unwrap(), literal);
        }
        assert!(format(&[2], &some(&["1"])).is_err());
        assert!(format(&[], &some(&["1"])).is_err());
        assert_eq!(format(&[0], &[]).unwrap(), "{}");
    }

    #[test]
    fn floats_read_as_postgresql_prints_them() {
        for (f, text) in [
            (1.5, "1.5"),
            (-2.25e-10, "-2.25e-10"),
            (1e20, "1e+20"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789012345.0, "123456789012345"),
            (1e15, "1e+15"),
            (-0.0, "-0"),
            (f64::INFINITY, "Infinity"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(float_text(f), text);
        }
    }
}
