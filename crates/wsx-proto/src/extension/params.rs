//! The `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1), parsed in one
//! linear pass with limits on the number of extensions and parameters.
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-token = registered-token
//! extension-param = token [ "=" (token | quoted-string) ]
//!     ; When using the quoted-string syntax variant, the value after
//!     ; quoted-string unescaping MUST conform to the 'token' ABNF.
//! ```
//!
//! Contract: [`parse_extension_list`] and [`ExtensionElement::parse`] never
//! allocate more than the elements and parameters they return, look at each
//! byte once, and refuse input past [`MAX_EXTENSIONS`] elements or
//! [`MAX_PARAMS`] parameters per element. [`ExtensionElement`]'s `Display`
//! writes the canonical form back.

use std::fmt;

/// Most extension elements one list may hold.
pub const MAX_EXTENSIONS: usize = 32;
/// Most parameters one extension element may carry.
pub const MAX_PARAMS: usize = 16;

/// One parameter of an extension element: `name` or `name=value`. A quoted
/// value is stored unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionParam {
    /// The parameter name (a token), as written.
    pub name: String,
    /// The value (a token after unescaping), if the parameter had one.
    pub value: Option<String>,
}

/// One element of an extension list: a name and its parameters, in order.
///
/// ```
/// use wsx_proto::extension::ExtensionElement;
/// let element = ExtensionElement::parse(r#"permessage-deflate; client_max_window_bits="10"; server_no_context_takeover"#)?;
/// assert_eq!(element.name, "permessage-deflate");
/// assert_eq!(element.params[0].value.as_deref(), Some("10"));
/// assert_eq!(element.to_string(), "permessage-deflate; client_max_window_bits=10; server_no_context_takeover");
/// # Ok::<(), wsx_proto::extension::GrammarError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionElement {
    /// The extension name (a token), as written.
    pub name: String,
    /// The parameters, in the order given.
    pub params: Vec<ExtensionParam>,
}

/// Why an extension header value does not follow RFC 6455 §9.1.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    /// A token was expected at this byte offset.
    #[error("expected a token at byte {0}")]
    ExpectedToken(usize),
    /// A byte that does not belong at this offset.
    #[error("unexpected byte at {0}")]
    Unexpected(usize),
    /// A quoted string without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A quoted value that is not a token once unescaped (§9.1).
    #[error("quoted value is not a token")]
    QuotedValueNotToken,
    /// More elements than [`MAX_EXTENSIONS`].
    #[error("more than {MAX_EXTENSIONS} extensions")]
    TooManyExtensions,
    /// More parameters in one element than [`MAX_PARAMS`].
    #[error("more than {MAX_PARAMS} parameters in one extension")]
    TooManyParams,
    /// The list holds no element.
    #[error("empty extension list")]
    Empty,
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// A cursor over the bytes of one header value.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Result<&'a str, GrammarError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        match self.bytes.get(start..self.pos).and_then(|t| std::str::from_utf8(t).ok()) {
            Some(token) if !token.is_empty() => Ok(token),
            _ => Err(GrammarError::ExpectedToken(start)),
        }
    }

    /// A quoted-string (RFC 9110 §5.6.4) whose unescaped content must be a
    /// token (RFC 6455 §9.1); the opening quote is at the cursor.
    fn quoted_token(&mut self) -> Result<String, GrammarError> {
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(GrammarError::UnterminatedQuote),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self.peek().ok_or(GrammarError::UnterminatedQuote)?;
                    value.push(char::from(escaped));
                    if !is_tchar(escaped) {
                        return Err(GrammarError::QuotedValueNotToken);
                    }
                    self.pos += 1;
                }
                Some(b) if is_tchar(b) => {
                    value.push(char::from(b));
                    self.pos += 1;
                }
                Some(_) => return Err(GrammarError::QuotedValueNotToken),
            }
        }
        if value.is_empty() {
            return Err(GrammarError::QuotedValueNotToken);
        }
        Ok(value)
    }

    /// `extension = extension-token *( ";" extension-param )`, stopping
    /// before a top-level `,` or at the end.
    fn element(&mut self) -> Result<ExtensionElement, GrammarError> {
        self.skip_ows();
        let name = self.token()?.to_owned();
        let mut params = Vec::new();
        loop {
            self.skip_ows();
            match self.peek() {
                None | Some(b',') => return Ok(ExtensionElement { name, params }),
                Some(b';') => self.pos += 1,
                Some(_) => return Err(GrammarError::Unexpected(self.pos)),
            }
            if params.len() == MAX_PARAMS {
                return Err(GrammarError::TooManyParams);
            }
            self.skip_ows();
            let param = self.token()?.to_owned();
            self.skip_ows();
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.skip_ows();
                Some(match self.peek() {
                    Some(b'"') => self.quoted_token()?,
                    _ => self.token()?.to_owned(),
                })
            } else {
                None
            };
            params.push(ExtensionParam { name: param, value });
        }
    }
}

impl ExtensionElement {
    /// Parses one element (no top-level comma).
    ///
    /// # Errors
    /// A [`GrammarError`] naming the first violation.
    pub fn parse(element: &str) -> Result<Self, GrammarError> {
        let mut cursor = Cursor { bytes: element.as_bytes(), pos: 0 };
        let parsed = cursor.element()?;
        match cursor.peek() {
            None => Ok(parsed),
            Some(_) => Err(GrammarError::Unexpected(cursor.pos)),
        }
    }

    /// The value of the first parameter called `name` (ASCII
    /// case-insensitive): `None` if absent, `Some(None)` if it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.iter().find(|p| p.name.eq_ignore_ascii_case(name)).map(|p| p.value.as_deref())
    }
}

impl fmt::Display for ExtensionElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for param in &self.params {
            write!(f, "; {}", param.name)?;
            if let Some(value) = &param.value {
                write!(f, "={value}")?;
            }
        }
        Ok(())
    }
}

/// Parses a whole `Sec-WebSocket-Extensions` value (`1#extension`; empty
/// list elements are skipped, RFC 9110 §5.6.1).
///
/// ```
/// use wsx_proto::extension::parse_extension_list;
/// let list = parse_extension_list("permessage-deflate; client_max_window_bits, permessage-deflate")?;
/// assert_eq!(list.len(), 2);
/// # Ok::<(), wsx_proto::extension::GrammarError>(())
/// ```
///
/// # Errors
/// A [`GrammarError`] naming the first violation.
pub fn parse_extension_list(value: &str) -> Result<Vec<ExtensionElement>, GrammarError> {
    let mut cursor = Cursor { bytes: value.as_bytes(), pos: 0 };
    let mut elements = Vec::new();
    loop {
        cursor.skip_ows();
        match cursor.peek() {
            None => break,
            Some(b',') => {
                cursor.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        if elements.len() == MAX_EXTENSIONS {
            return Err(GrammarError::TooManyExtensions);
        }
        elements.push(cursor.element()?);
    }
    if elements.is_empty() {
        return Err(GrammarError::Empty);
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_with_and_without_values() {
        let e = ExtensionElement::parse("foo ; a ; b=1 ;c = \"x\\y\" ").unwrap();
        assert_eq!(e.name, "foo");
        assert_eq!(e.param("a"), Some(None));
        assert_eq!(e.param("B"), Some(Some("1")));
        assert_eq!(e.param("c"), Some(Some("xy")));
        assert_eq!(e.param("d"), None);
    }

    #[test]
    fn malformed_elements_are_refused() {
        for bad in ["", ";", "a;", "a; =1", "a; b=", "a b", "a; b=\"1", "a; b=\"1 2\"", "a; b=\"\"", "a; b=1 2", "é"] {
            assert!(ExtensionElement::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ExtensionElement::parse("a, b"), Err(GrammarError::Unexpected(1)));
    }

    #[test]
    fn lists_skip_empty_elements_and_keep_quoted_commas_out() {
        let list = parse_extension_list(" , a; x=1 ,, b ,").unwrap();
        assert_eq!(list.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(parse_extension_list(" , "), Err(GrammarError::Empty));
        assert!(parse_extension_list("a; x=\"1,2\"").is_err(), "a comma is not a tchar");
    }

    #[test]
    fn limits_bound_the_work() {
        let many = vec!["a"; MAX_EXTENSIONS + 1].join(",");
        assert_eq!(parse_extension_list(&many), Err(GrammarError::TooManyExtensions));
        assert_eq!(parse_extension_list(&many[2..]).map(|l| l.len()), Ok(MAX_EXTENSIONS));
        let params = format!("a{}", "; p".repeat(MAX_PARAMS + 1));
        assert_eq!(ExtensionElement::parse(&params), Err(GrammarError::TooManyParams));
        // A long hostile value is parsed in one pass and refused at the limit.
        let long = "x;".repeat(100_000);
        assert!(parse_extension_list(&long).is_err());
    }

    #[test]
    fn display_round_trips() {
        let text = "permessage-deflate; server_no_context_takeover; client_max_window_bits=9";
        assert_eq!(ExtensionElement::parse(text).unwrap().to_string(), text);
    }
}
