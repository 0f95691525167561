//! URL rewrite rules (`<http><urlrewrite><rule><from>REGEX</from><to>REPLACEMENT</to>`,
//! docs/decisions.md §9.2): the replacement of the reference's tuckey rules. Each rule is
//! tried on the request-target in file order; a rule whose pattern matches replaces every
//! match (`$1`-style group references in the replacement), and the next rule sees the result.
//! Applied before the node is chosen, so the sticky keys and the node see the rewritten
//! target (the reference's `UrlRewriteTest`).

use crate::config::UrlRewriteRule;
use std::borrow::Cow;

/// Applies `rules` to `target`, in order; borrows `target` when no rule matches.
pub fn rewrite<'a>(rules: &[UrlRewriteRule], target: &'a str) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(target);
    for rule in rules {
        if let Cow::Owned(changed) = rule.from.replace_all(&out, rule.to.as_str()) {
            out = Cow::Owned(changed);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn rule(from: &str, to: &str) -> UrlRewriteRule {
        UrlRewriteRule {
            from: Regex::new(from).unwrap(),
            to: to.to_owned(),
        }
    }

    #[test]
    fn rules_apply_in_order_with_group_references() {
        let rules = [
            rule("someCompany", "restcomm"),
            rule("^/restcomm/(\\d+)/x", "/restcomm/$1/y"),
        ];
        assert_eq!(
            rewrite(&rules, "/someCompany/42/x?a=1"),
            "/restcomm/42/y?a=1"
        );
    }

    #[test]
    fn an_unmatched_target_is_borrowed_unchanged() {
        let rules = [rule("nothing-here", "x")];
        assert!(matches!(rewrite(&rules, "/a/b"), Cow::Borrowed("/a/b")));
        assert_eq!(rewrite(&[], "/a"), "/a");
    }
}
