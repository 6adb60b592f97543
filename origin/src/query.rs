//! The LL-HLS delivery directives of a media playlist request:
//! `_HLS_msn`, `_HLS_part` and `_HLS_skip` (RFC 8216bis §6.2.5).

use crate::edge::Awaited;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Directives {
    /// `_HLS_msn` (and `_HLS_part`): hold the request until the playlist has them.
    pub awaited: Option<Awaited>,
    /// `_HLS_skip=YES|v2`: the delta playlist is wanted.
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DirectiveError {
    #[error("_HLS_part without _HLS_msn")]
    PartWithoutMsn,
    #[error("{name} must be a decimal number, got {value:?}")]
    NotANumber { name: &'static str, value: String },
    #[error("_HLS_skip must be YES or v2, got {0:?}")]
    BadSkip(String),
}

const MAX_ECHO: usize = 32;

fn number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, DirectiveError> {
    let ok = !value.is_empty() && value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| value.parse().ok())
        .flatten()
        .ok_or_else(|| DirectiveError::NotANumber {
            name,
            value: value.chars().take(MAX_ECHO).collect(),
        })
}

/// Parses the raw query string; other parameters are ignored.
pub(crate) fn parse(query: Option<&str>) -> Result<Directives, DirectiveError> {
    let mut msn = None;
    let mut part = None;
    let mut skip = false;
    for pair in query.unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "_HLS_msn" => msn = Some(number::<u64>("_HLS_msn", value)?),
            "_HLS_part" => part = Some(number::<u32>("_HLS_part", value)?),
            "_HLS_skip" => match value {
                "YES" | "v2" => skip = true,
                other => {
                    return Err(DirectiveError::BadSkip(
                        other.chars().take(MAX_ECHO).collect(),
                    ))
                }
            },
            _ => {}
        }
    }
    let awaited = match (msn, part) {
        (None, Some(_)) => return Err(DirectiveError::PartWithoutMsn),
        (None, None) => None,
        (Some(msn), part) => Some(Awaited { msn, part }),
    };
    Ok(Directives { awaited, skip })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directives() {
        assert_eq!(parse(None), Ok(Directives::default()));
        assert_eq!(parse(Some("")), Ok(Directives::default()));
        assert_eq!(
            parse(Some("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES")),
            Ok(Directives {
                awaited: Some(Awaited {
                    msn: 12,
                    part: Some(3)
                }),
                skip: true
            })
        );
        assert_eq!(
            parse(Some("x=1&_HLS_msn=7")),
            Ok(Directives {
                awaited: Some(Awaited { msn: 7, part: None }),
                skip: false
            })
        );
        assert!(parse(Some("_HLS_skip=v2")).expect("v2").skip);
    }

    #[test]
    fn rejects_bad_directives() {
        assert_eq!(
            parse(Some("_HLS_part=1")),
            Err(DirectiveError::PartWithoutMsn)
        );
        for q in [
            "_HLS_msn=a",
            "_HLS_msn=",
            "_HLS_msn=-1",
            "_HLS_msn=1&_HLS_part=x",
            "_HLS_msn=99999999999999999999",
            "_HLS_msn=1&_HLS_part=5000000000",
            "_HLS_skip=NO",
        ] {
            assert!(parse(Some(q)).is_err(), "{q}");
        }
    }
}
