//! Which card is the adapter: of the devices a source sees, the one at the adapter's PCI
//! address, else the one of its name.

use crate::gpu::{bus_id_text, parse_bus_id};

/// Which candidate (name, PCI address) is the adapter: by PCI address where both have
/// one, else by name, which only a single match makes certain (several alike are read
/// from the first, with a caveat). `what` names the candidates in the messages.
pub fn pick(
    bus: Option<&str>,
    name: &str,
    candidates: &[(String, Option<String>)],
    what: &str,
) -> std::result::Result<(usize, Option<String>), String> {
    let addr = bus.and_then(parse_bus_id);
    if let Some(a) = addr
        && candidates.iter().any(|c| c.1.is_some())
    {
        return candidates
            .iter()
            .position(|c| c.1.as_deref().and_then(parse_bus_id) == Some(a))
            .map(|i| (i, None))
            .ok_or_else(|| format!("no {what} at the adapter's PCI address {}", bus_id_text(a)));
    }
    let named: Vec<usize> = (0..candidates.len())
        .filter(|&i| {
            let n = &candidates[i].0;
            name.contains(n.as_str()) || n.contains(name)
        })
        .collect();
    match (named.as_slice(), candidates.len()) {
        ([i], _) => Ok((*i, None)),
        ([i, ..], _) => Ok((
            *i,
            Some(format!(
                "{} {what}s are '{name}' and the adapter gives no PCI address: the telemetry is the first's, which may be another card",
                named.len()
            )),
        )),
        ([], 1) => Ok((0, None)),
        ([], 0) => Err(format!("no {what}")),
        ([], n) => Err(format!("none of {n} {what}s is '{name}'")),
    }
}
