//! Each screen's address, in the URL fragment (`#/runs`, `#/runs/12?q=lopez&entity=student`),
//! so reload, Back and a pasted link keep the admin's place.

use crate::app::OpFilter;

/// A screen as an address names it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Address {
    Runs,
    Run(i64, OpFilter),
    /// One person's changes across runs, by email.
    Person(String),
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = v
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fragment for `address` (with its `#`).
pub(crate) fn format(address: &Address) -> String {
    match address {
        Address::Runs => "#/runs".into(),
        Address::Person(email) => format!("#/people?email={}", encode(email)),
        Address::Run(id, f) => {
            let mut parts = Vec::new();
            for (k, v) in [
                ("q", &f.text),
                ("school", &f.school),
                ("entity", &f.entity),
                ("change", &f.change),
                ("sort", &f.sort),
            ] {
                if !v.is_empty() {
                    parts.push(format!("{k}={}", encode(v)));
                }
            }
            if f.page > 0 {
                parts.push(format!("page={}", f.page + 1));
            }
            if parts.is_empty() {
                format!("#/runs/{id}")
            } else {
                format!("#/runs/{id}?{}", parts.join("&"))
            }
        }
    }
}

/// The screen a fragment names; anything unreadable is the runs list.
pub(crate) fn parse(hash: &str) -> Address {
    let path = hash.trim_start_matches('#');
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if path == "/people" {
        let email = query
            .split('&')
            .find_map(|p| p.strip_prefix("email="))
            .map(decode)
            .unwrap_or_default();
        return if email.is_empty() {
            Address::Runs
        } else {
            Address::Person(email)
        };
    }
    let Some(id) = path
        .strip_prefix("/runs/")
        .and_then(|id| id.parse::<i64>().ok())
    else {
        return Address::Runs;
    };
    let mut filter = OpFilter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v);
        match k {
            "q" => filter.text = v,
            "school" => filter.school = v,
            "entity" => filter.entity = v,
            "change" => filter.change = v,
            "sort" => filter.sort = v,
            "page" => filter.page = v.parse::<usize>().unwrap_or(1).saturating_sub(1),
            _ => {}
        }
    }
    Address::Run(id, filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_and_bad_ones_fall_back_to_the_runs_list() {
        let filter = OpFilter {
            text: "María López & co".into(),
            school: "sch-9".into(),
            entity: "student".into(),
            change: String::new(),
            sort: "person".into(),
            page: 2,
        };
        let run = Address::Run(12, filter);
        let hash = format(&run);
        assert_eq!(
            hash,
            "#/runs/12?q=Mar%C3%ADa%20L%C3%B3pez%20%26%20co&school=sch-9&entity=student&sort=person&page=3"
        );
        assert_eq!(parse(&hash), run);
        assert_eq!(format(&Address::Run(3, OpFilter::default())), "#/runs/3");
        assert_eq!(parse("#/runs/3"), Address::Run(3, OpFilter::default()));
        assert_eq!(parse("#/runs"), Address::Runs);
        assert_eq!(parse(""), Address::Runs);
        assert_eq!(parse("#/runs/abc"), Address::Runs);
        let person = Address::Person("maría.lópez+1@lincoln.org".into());
        assert_eq!(
            format(&person),
            "#/people?email=mar%C3%ADa.l%C3%B3pez%2B1%40lincoln.org"
        );
        assert_eq!(parse(&format(&person)), person);
        assert_eq!(parse("#/people?email="), Address::Runs);
        assert_eq!(
            parse("#/runs/4?q=%ZZ"),
            Address::Run(
                4,
                OpFilter {
                    text: "%ZZ".into(),
                    ..OpFilter::default()
                }
            )
        );
    }
}
