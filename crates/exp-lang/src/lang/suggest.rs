//! "Did you mean" suggestions by edit distance.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(word, c);
        let dist = strsim::levenshtein(word, c);
        // Why both: Levenshtein catches short typos (`lr` → `ls`), Jaro-Winkler
        // catches inserted separators (`convnext_v2_tiny` → `convnextv2_tiny`).
        let ok = dist <= (word.len().max(c.len()) / 3).max(1) || score >= 0.88;
        if ok && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// `did you mean `x`?` or a list of the valid choices.
pub fn help<'a, I>(word: &str, candidates: I, what: &str) -> String
where
    I: IntoIterator<Item = &'a str> + Clone,
{
    match closest(word, candidates.clone()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            let all: Vec<&str> = candidates.into_iter().collect();
            if all.is_empty() {
                format!("no {what} is declared")
            } else if all.len() <= 24 {
                format!(
                    "{what}: {}",
                    all.iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!(
                    "{what}: {}, ... ({} in all)",
                    all[..24]
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    all.len()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names() {
        assert_eq!(
            closest("weight_decy", ["weight_decay", "lr"]),
            Some("weight_decay")
        );
        assert_eq!(
            closest("convnext_v2_tiny", ["convnextv2_tiny", "resnet50"]),
            Some("convnextv2_tiny")
        );
        assert_eq!(closest("zzz", ["weight_decay", "lr"]), None);
    }
}
