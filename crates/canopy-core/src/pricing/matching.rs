//! Finding a catalog entry for a model name as a provider reported it.
//!
//! The order is: (1) the exact name within the provider, ignoring case; (2) the name without a
//! dated-snapshot suffix (`-2024-08-06`, `-20241022`, `@20241022`, `-0613`) or `-latest`;
//! (3) the catalog's model rules (prefix rewrites such as OpenRouter's `vendor/model`);
//! (4) steps 1–3 again with the model alone, across every provider. A name is never matched to
//! a shorter, different model by a loose prefix: only whole suffixes that look like dates are
//! cut. Loading files and computing cost live elsewhere; nothing here allocates beyond the
//! lowercased names and the strings a rule produces.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;

use super::Entry;

/// The catalog's configured rules, lowercased at load time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    /// Route names that mean a catalog provider (`gemini` → `google`).
    pub provider_aliases: HashMap<String, String>,
    /// Which provider wins when a model name alone matches several.
    pub provider_priority: Vec<String>,
    /// Prefix rewrites, tried in order; the first that finds an entry wins.
    pub model_rules: Vec<ModelRule>,
}

impl Rules {
    /// The catalog provider a (lowercase) route name means.
    pub fn resolve<'a>(&'a self, provider: &'a str) -> &'a str {
        self.provider_aliases
            .get(provider)
            .map_or(provider, String::as_str)
    }
}

/// One prefix rewrite: `ft:BASE:org::id` → `ft:BASE`, `anthropic/claude-sonnet-4.5` →
/// `claude-sonnet-4-5` at `anthropic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelRule {
    /// The providers whose lookups try this rule; empty means all.
    pub providers: Vec<String>,
    /// The model must start with this.
    pub prefix: String,
    /// Whether the prefix is removed from the rewritten name.
    pub strip_prefix: bool,
    /// Everything after the prefix from the first occurrence of this on is dropped.
    pub cut_at: Option<String>,
    /// Replacements applied, in order, to the part after the prefix.
    pub replace: Vec<(String, String)>,
    /// The provider to look the rewritten name up in; `None` keeps the current one.
    pub provider: Option<String>,
}

impl ModelRule {
    /// Whether lookups for `provider` (a catalog provider) try this rule; the rule's
    /// `providers` may name routes (`gemini`) as well.
    fn applies_to(&self, rules: &Rules, provider: &str) -> bool {
        self.providers.is_empty() || self.providers.iter().any(|p| rules.resolve(p) == provider)
    }

    /// The rewritten name, or `None` when the rule does not apply or changes nothing.
    fn rewrite(&self, model: &str) -> Option<String> {
        let rest = model.strip_prefix(self.prefix.as_str())?;
        let rest = match self.cut_at.as_deref() {
            Some(cut) => rest.split_once(cut).map_or(rest, |(head, _)| head),
            None => rest,
        };
        let mut rest = rest.to_owned();
        for (from, to) in &self.replace {
            rest = rest.replace(from.as_str(), to);
        }
        if rest.is_empty() {
            return None;
        }
        let out = if self.strip_prefix {
            rest
        } else {
            format!("{}{rest}", self.prefix)
        };
        (out != model || self.provider.is_some()).then_some(out)
    }
}

/// Entry positions keyed by lowercase names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    by_provider: HashMap<String, HashMap<String, usize>>,
    by_model: HashMap<String, usize>,
}

impl Index {
    /// Indexes `entries` (whose providers are lowercase); `priority` decides which provider's
    /// entry a model name alone finds, then the provider name does.
    pub fn build(entries: &[Entry], priority: &[String]) -> Self {
        let rank = |provider: &str| {
            let position = priority.iter().position(|p| p == provider);
            (position.unwrap_or(priority.len()), provider.to_owned())
        };
        let mut index = Self::default();
        for (position, entry) in entries.iter().enumerate() {
            let model = entry.model.to_lowercase();
            index
                .by_provider
                .entry(entry.provider.clone())
                .or_default()
                .insert(model.clone(), position);
            match index.by_model.entry(model) {
                MapEntry::Vacant(slot) => {
                    slot.insert(position);
                }
                MapEntry::Occupied(mut slot) => {
                    if rank(&entry.provider) < rank(&entries[*slot.get()].provider) {
                        slot.insert(position);
                    }
                }
            }
        }
        index
    }

    fn exact(&self, provider: Option<&str>, model: &str) -> Option<usize> {
        match provider {
            Some(provider) => self.by_provider.get(provider)?.get(model).copied(),
            None => self.by_model.get(model).copied(),
        }
    }

    /// Steps 1 and 2: the exact name, then the name without a date or `-latest` suffix.
    fn find(&self, provider: Option<&str>, model: &str) -> Option<usize> {
        let exact = |name: &str| self.exact(provider, name);
        exact(model)
            .or_else(|| strip_date(model).and_then(exact))
            .or_else(|| model.strip_suffix("-latest").and_then(exact))
    }

    /// Step 3: the first rule whose rewrite finds an entry. With no provider, every rule is
    /// tried whatever its `providers`.
    fn find_by_rules(&self, rules: &Rules, provider: Option<&str>, model: &str) -> Option<usize> {
        rules
            .model_rules
            .iter()
            .filter(|rule| provider.is_none_or(|p| rule.applies_to(rules, p)))
            .find_map(|rule| {
                let rewritten = rule.rewrite(model)?;
                let target = match rule.provider.as_deref() {
                    Some(target) => Some(rules.resolve(target)),
                    None => provider,
                };
                self.find(target, &rewritten)
            })
    }

    /// The position of the entry that prices `model` as `provider` reported it.
    pub fn lookup(&self, rules: &Rules, provider: &str, model: &str) -> Option<usize> {
        let model = model.trim().to_lowercase();
        if model.is_empty() {
            return None;
        }
        let provider = provider.trim().to_ascii_lowercase();
        let provider = rules.resolve(&provider);
        self.find(Some(provider), &model)
            .or_else(|| self.find_by_rules(rules, Some(provider), &model))
            .or_else(|| self.find(None, &model))
            .or_else(|| self.find_by_rules(rules, None, &model))
    }
}

/// The name without a dated-snapshot suffix: `-YYYY-MM-DD`, `-YYYYMMDD`, `@YYYYMMDD` or
/// `-MMDD`. Digits that are not a plausible date (`-8192`) are left alone.
pub(crate) fn strip_date(model: &str) -> Option<&str> {
    let cut = |len: usize| {
        let (head, tail) = model.split_at_checked(model.len().checked_sub(len)?)?;
        (!head.is_empty()).then_some((head, tail.as_bytes()))
    };
    match cut(11) {
        Some((head, [b'-', year @ .., b'-', m1, m2, b'-', d1, d2]))
            if is_year(year) && is_month_day(&[*m1, *m2, *d1, *d2]) =>
        {
            return Some(head);
        }
        _ => {}
    }
    match cut(9) {
        Some((head, [b'-' | b'@', year @ .., m1, m2, d1, d2]))
            if is_year(year) && is_month_day(&[*m1, *m2, *d1, *d2]) =>
        {
            return Some(head);
        }
        _ => {}
    }
    match cut(5) {
        Some((head, [b'-', month_day @ ..])) if is_month_day(month_day) => Some(head),
        _ => None,
    }
}

fn two_digits(digits: &[u8]) -> Option<u8> {
    match digits {
        [tens @ b'0'..=b'9', ones @ b'0'..=b'9'] => Some((tens - b'0') * 10 + (ones - b'0')),
        _ => None,
    }
}

fn is_year(digits: &[u8]) -> bool {
    matches!(
        digits,
        [b'1', b'9', b'0'..=b'9', b'0'..=b'9'] | [b'2', b'0', b'0'..=b'9', b'0'..=b'9']
    )
}

fn is_month_day(digits: &[u8]) -> bool {
    let (Some(month), Some(day)) = (
        digits.get(..2).and_then(two_digits),
        digits.get(2..).and_then(two_digits),
    ) else {
        return false;
    };
    (1..=12).contains(&month) && (1..=31).contains(&day)
}
