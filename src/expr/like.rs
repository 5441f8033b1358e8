//! `LIKE` / `ILIKE` matching without regular expressions.
//!
//! A pattern is split on `%` into segments of literal characters and `_` (any one
//! character). Common shapes (`abc`, `abc%`, `%abc`, `%abc%`) use plain string tests;
//! the general case anchors the first and last segments and finds the middle ones
//! leftmost-first, which is exact for `%`-separated fixed-length segments.

use std::borrow::Cow;

use super::EvalError;
use super::node::Node;
use crate::row::Value;

/// One pattern element inside a segment: a literal char or `_`.
type Seg = Vec<Option<char>>;

#[derive(Debug, Clone)]
enum Shape {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// `first % mid % ... % last` (`last` is `None` when there is no `%`).
    General {
        first: Seg,
        mids: Vec<Seg>,
        last: Option<Seg>,
    },
}

/// A compiled LIKE pattern.
#[derive(Debug, Clone)]
pub(crate) struct LikeMatcher {
    shape: Shape,
    /// ILIKE: the pattern is lower-cased and so is the input.
    ci: bool,
}

/// A pattern known at plan time, or computed per row.
#[derive(Debug, Clone)]
pub(crate) enum LikePat {
    Fixed(LikeMatcher),
    Dynamic {
        pattern: Box<Node>,
        escape: Option<char>,
        ci: bool,
    },
}

impl LikePat {
    pub(crate) fn is_const(&self) -> bool {
        match self {
            LikePat::Fixed(_) => true,
            LikePat::Dynamic { pattern, .. } => pattern.is_const(),
        }
    }

    /// Match `s`; `None` when the pattern is NULL.
    pub(crate) fn matches(&self, s: &str, row: &[Value]) -> Result<Option<bool>, EvalError> {
        match self {
            LikePat::Fixed(m) => Ok(Some(m.matches(s))),
            LikePat::Dynamic {
                pattern,
                escape,
                ci,
            } => {
                let Some(p) = pattern.text_operand(row)? else {
                    return Ok(None);
                };
                let m = LikeMatcher::new(&p, *escape, *ci).map_err(EvalError::new)?;
                Ok(Some(m.matches(s)))
            }
        }
    }
}

enum Tok {
    Char(char),
    One,
    Many,
}

impl LikeMatcher {
    /// Compile `pattern` with an escape character (PostgreSQL's default is `\`;
    /// `None` disables escaping).
    pub(crate) fn new(
        pattern: &str,
        escape: Option<char>,
        ci: bool,
    ) -> Result<LikeMatcher, String> {
        let pattern: Cow<'_, str> = if ci {
            Cow::Owned(pattern.to_lowercase())
        } else {
            Cow::Borrowed(pattern)
        };
        let mut toks = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                match chars.next() {
                    Some(n) => toks.push(Tok::Char(n)),
                    None => {
                        return Err("LIKE pattern must not end with escape character".to_string());
                    }
                }
            } else if c == '%' {
                if !matches!(toks.last(), Some(Tok::Many)) {
                    toks.push(Tok::Many);
                }
            } else if c == '_' {
                toks.push(Tok::One);
            } else {
                toks.push(Tok::Char(c));
            }
        }
        let mut segs: Vec<Seg> = vec![Vec::new()];
        for t in toks {
            match t {
                Tok::Many => segs.push(Vec::new()),
                Tok::One => {
                    if let Some(s) = segs.last_mut() {
                        s.push(None);
                    }
                }
                Tok::Char(c) => {
                    if let Some(s) = segs.last_mut() {
                        s.push(Some(c));
                    }
                }
            }
        }
        let plain = |s: &Seg| -> Option<String> { s.iter().copied().collect::<Option<String>>() };
        let shape = match segs.as_slice() {
            [only] => match plain(only) {
                Some(p) => Shape::Exact(p),
                None => Shape::General {
                    first: only.clone(),
                    mids: Vec::new(),
                    last: None,
                },
            },
            [first, last] if last.is_empty() && plain(first).is_some() => {
                Shape::Prefix(plain(first).unwrap_or_default())
            }
            [first, last] if first.is_empty() && plain(last).is_some() => {
                Shape::Suffix(plain(last).unwrap_or_default())
            }
            [first, mid, last] if first.is_empty() && last.is_empty() && plain(mid).is_some() => {
                Shape::Contains(plain(mid).unwrap_or_default())
            }
            [first, mids @ .., last] => Shape::General {
                first: first.clone(),
                mids: mids.iter().filter(|m| !m.is_empty()).cloned().collect(),
                last: Some(last.clone()),
            },
            // `segs` starts with one element and only grows.
            [] => Shape::Exact(String::new()),
        };
        Ok(LikeMatcher { shape, ci })
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        let lowered;
        let s = if self.ci && s.chars().any(char::is_uppercase) {
            lowered = s.to_lowercase();
            lowered.as_str()
        } else {
            s
        };
        match &self.shape {
            Shape::Exact(p) => s == p,
            Shape::Prefix(p) => s.starts_with(p.as_str()),
            Shape::Suffix(p) => s.ends_with(p.as_str()),
            Shape::Contains(p) => match single_char(p) {
                Some(c) => s.contains(c),
                None => s.contains(p.as_str()),
            },
            Shape::General { first, mids, last } => general(s, first, mids, last.as_ref()),
        }
    }
}

/// The only character of a one-character string.
#[inline]
fn single_char(p: &str) -> Option<char> {
    let mut it = p.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// Length in bytes of `seg` matched at the start of `s`, if it matches.
fn match_at(s: &str, seg: &Seg) -> Option<usize> {
    let mut chars = s.char_indices();
    for want in seg {
        let (_, c) = chars.next()?;
        if let Some(w) = want
            && *w != c
        {
            return None;
        }
    }
    Some(chars.next().map(|(i, _)| i).unwrap_or(s.len()))
}

fn general(s: &str, first: &Seg, mids: &[Seg], last: Option<&Seg>) -> bool {
    let Some(head) = match_at(s, first) else {
        return false;
    };
    let Some(last) = last else {
        return head == s.len();
    };
    let rest = s.get(head..).unwrap_or("");
    // The last segment occupies exactly the last `last.len()` characters.
    let start = if last.is_empty() {
        rest.len()
    } else {
        match rest.char_indices().rev().nth(last.len() - 1) {
            Some((i, _)) => i,
            None => return false,
        }
    };
    let Some(tail) = rest.get(start..) else {
        return false;
    };
    if match_at(tail, last) != Some(tail.len()) {
        return false;
    }
    let mut region = rest.get(..start).unwrap_or("");
    'mids: for mid in mids {
        for (i, _) in region.char_indices() {
            let Some(here) = region.get(i..) else {
                continue;
            };
            if let Some(n) = match_at(here, mid) {
                region = here.get(n..).unwrap_or("");
                continue 'mids;
            }
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(s: &str, p: &str) -> bool {
        LikeMatcher::new(p, Some('\\'), false).unwrap().matches(s)
    }

    #[test]
    fn shapes() {
        assert!(like("abc", "abc"));
        assert!(!like("abcd", "abc"));
        assert!(like("abcd", "ab%"));
        assert!(like("abcd", "%cd"));
        assert!(like("abcd", "%bc%"));
        assert!(like("", "%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abbc", "a_c"));
        assert!(like("axxbyyc", "a%b%c"));
        assert!(like("abc", "a%b%c"));
        assert!(!like("acb", "a%b%c"));
        assert!(like("héllo", "h_llo"));
        assert!(like("a%b", "a\\%b"));
        assert!(!like("axb", "a\\%b"));
        assert!(like("xaby", "%a_%"));
        assert!(!like("xa", "%a_%"));
        assert!(like("abab", "%ab"));
        assert!(like("aXbXc", "a%_%c"));
        assert!(!like("ab", "a%_%b"));
        assert!(LikeMatcher::new("ab\\", Some('\\'), false).is_err());
    }

    #[test]
    fn case_insensitive() {
        let m = LikeMatcher::new("%GMAIL.com", Some('\\'), true).unwrap();
        assert!(m.matches("Bob@gmail.COM"));
        assert!(!m.matches("bob@yahoo.com"));
    }
}
