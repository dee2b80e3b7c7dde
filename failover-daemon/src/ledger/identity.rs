//! Which Anthropic account each configured account logs in as: the `accountUuid` of the
//! `oauthAccount` in its `.claude.json`. Not a secret (no token); recorded in the ledger so
//! `doctor` can tell when two hosts' same-named accounts are different people's accounts.

use std::collections::BTreeMap;

use failover_core::{Account, AccountId};

/// Account → the Anthropic account uuid it logs in as, for the accounts whose
/// `.claude.json` names one.
pub fn account_identities(accounts: &[Account]) -> BTreeMap<AccountId, String> {
    accounts
        .iter()
        .filter_map(|a| {
            let text = std::fs::read_to_string(a.config_dir.join(".claude.json")).ok()?;
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            let uuid = json.get("oauthAccount")?.get("accountUuid")?.as_str()?;
            Some((a.id.clone(), uuid.to_owned()))
        })
        .collect()
}

/// The accounts whose hosts disagree: account → (host → uuid), for every account with more
/// than one uuid recorded.
pub fn conflicts(
    recorded: BTreeMap<AccountId, BTreeMap<String, String>>,
) -> BTreeMap<AccountId, BTreeMap<String, String>> {
    recorded
        .into_iter()
        .filter(|(_, by_host)| {
            let mut uuids: Vec<&String> = by_host.values().collect();
            uuids.sort();
            uuids.dedup();
            uuids.len() > 1
        })
        .collect()
}
