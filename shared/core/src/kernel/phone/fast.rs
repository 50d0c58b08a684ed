//! The fast path of phone parsing, for the spellings bulk imports are made of.
//!
//! The `phonenumber` crate matches every metadata pattern through one global,
//! mutex-guarded LRU of 100 compiled regexes, which the 25 regions of the
//! North American plan alone overflow: a number costs ~25 µs to parse and
//! validate. Here the same metadata patterns are compiled once per country
//! code, anchored, and matched without a lock.
//!
//! The fast path only ever *accepts*: it reads a number that has an obvious
//! reading (an international number, or a national one that starts with neither
//! the national prefix nor the country code) and is valid. Everything else, and
//! every refusal with its reason, goes through the crate's parser; both paths
//! validate with [`is_valid`]. Property tests check that both paths agree.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

use super::Region;

/// A descriptor: the lengths it allows and its pattern, which must match the
/// whole national number (libphonenumber's semantics; the crate only requires
/// a match at the first digit, and so accepts numbers with trailing digits).
struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Pattern {
    fn new(descriptor: &Descriptor) -> Self {
        let whole = RegexBuilder::new(&format!("^(?:{})$", descriptor.national_number().as_str()))
            .ignore_whitespace(true)
            .build()
            .expect("libphonenumber patterns compile");
        Self {
            lengths: descriptor.possible_length().to_vec(),
            regex: whole,
        }
    }

    fn is_match(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.regex.is_match(national)
    }
}

fn anchored(pattern: &str) -> Regex {
    RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .build()
        .expect("libphonenumber patterns compile")
}

/// What validates the national numbers of one region.
struct Plan {
    leading_digits: Option<Regex>,
    general: Pattern,
    /// Fixed line, mobile, toll free, ...: a valid number matches one of them.
    kinds: Vec<Pattern>,
    /// What a national number starting with it may have to lose first; such
    /// numbers take the slow path.
    national_prefix: Option<Regex>,
}

impl Plan {
    fn new(meta: &Metadata) -> Self {
        let d = meta.descriptors();
        let kinds = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ]
        .into_iter()
        .flatten()
        .map(Pattern::new)
        .collect();
        let national_prefix = meta
            .national_prefix_for_parsing()
            .map(|p| anchored(p.as_str()))
            .or_else(|| meta.national_prefix().map(|p| anchored(&regex::escape(p))));
        Self {
            leading_digits: meta.leading_digits().map(|p| anchored(p.as_str())),
            general: Pattern::new(d.general()),
            kinds,
            national_prefix,
        }
    }

    fn is_valid(&self, national: &str) -> bool {
        self.general.is_match(national) && self.kinds.iter().any(|k| k.is_match(national))
    }

    fn may_carry_national_prefix(&self, national: &str) -> bool {
        self.national_prefix
            .as_ref()
            .is_some_and(|p| p.is_match(national))
    }
}

/// The plans of one country code, in the crate's region order, with the
/// region each belongs to.
struct CodePlans {
    regions: Vec<&'static str>,
    plans: Vec<Plan>,
}

impl CodePlans {
    /// Valid as the crate decides it: the first region whose leading digits
    /// match (or, without leading digits, that knows the number) decides.
    fn is_valid(&self, national: &str) -> bool {
        if let [only] = self.plans.as_slice() {
            return only.is_valid(national);
        }
        for plan in &self.plans {
            match &plan.leading_digits {
                Some(leading) if leading.is_match(national) => return plan.is_valid(national),
                Some(_) => {}
                None if plan.is_valid(national) => return true,
                None => {}
            }
        }
        false
    }

    /// The plan whose national prefix libphonenumber would strip: the main
    /// region's for an international number, the default region's otherwise.
    fn prefix_plan(&self, region: Option<&str>) -> &Plan {
        region
            .and_then(|r| self.regions.iter().position(|id| *id == r))
            .map_or(&self.plans[0], |i| &self.plans[i])
    }
}

/// Plans are compiled on the first number of each country code.
static PLANS: LazyLock<Mutex<HashMap<u16, Option<Arc<CodePlans>>>>> =
    LazyLock::new(Default::default);

fn plans(code: u16) -> Option<Arc<CodePlans>> {
    let mut plans = PLANS.lock().expect("phone plans poisoned");
    plans
        .entry(code)
        .or_insert_with(|| {
            let regions = DATABASE.region(&code)?;
            let metas: Vec<&Metadata> = if regions == ["001"] {
                DATABASE.by_code(&code)?.into_iter().take(1).collect()
            } else {
                regions
                    .iter()
                    .map(|r| DATABASE.by_id(*r))
                    .collect::<Option<_>>()?
            };
            Some(Arc::new(CodePlans {
                regions,
                plans: metas.into_iter().map(Plan::new).collect(),
            }))
        })
        .clone()
}

/// Whether `national` is a valid number of country code `code`.
pub(super) fn is_valid(code: u16, national: &str) -> bool {
    plans(code).is_some_and(|p| p.is_valid(national))
}

/// The E.164 form of `digits` (cleaned: digits, after a `+` when
/// `international`), when it has an obvious reading that is valid.
pub(super) fn e164(digits: &str, international: bool, region: Option<Region>) -> Option<String> {
    let (code, national) = if international {
        if digits.starts_with('0') {
            return None; // no country code starts with 0
        }
        (1..=3).filter(|&n| n < digits.len()).find_map(|n| {
            let code: u16 = digits[..n].parse().ok()?;
            DATABASE.region(&code).map(|_| (code, &digits[n..]))
        })?
    } else {
        let meta = DATABASE.by_id(region?.code())?;
        let code = meta.country_code();
        if digits.starts_with(&code.to_string()) {
            return None;
        }
        (code, digits)
    };
    let plans = plans(code)?;
    let prefix_region = if international {
        None
    } else {
        region.as_ref().map(Region::code)
    };
    if plans
        .prefix_plan(prefix_region)
        .may_carry_national_prefix(national)
    {
        return None;
    }
    plans
        .is_valid(national)
        .then(|| format!("+{code}{national}"))
}
