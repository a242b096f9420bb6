//! Launch parameters by name, as a tuning file gives them to a kernel.

/// Named launch parameters for a kernel (from a tuning file); each kernel reads the
/// names it knows and refuses others.
pub type Params = std::collections::BTreeMap<String, f64>;

/// Launch parameters as `NAME=value` words, for people.
pub fn params_text(p: &Params) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A size-like launch parameter: a whole number from 1 to 65536, or an error naming it.
pub fn whole_param(id: &str, name: &str, v: f64) -> std::result::Result<u32, String> {
    if v.fract() == 0.0 && (1.0..=65536.0).contains(&v) {
        Ok(v as u32)
    } else {
        Err(format!(
            "{id}: {name} {v} must be a whole number from 1 to 65536"
        ))
    }
}
