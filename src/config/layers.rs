//! The four layers of a value (flag > environment > file > default) and the checks that name
//! the option and the layer when a value is wrong.

use std::str::FromStr;

use super::error::{ConfigError, Source};
use super::options::OptionSpec;

/// A value and where it came from, so validation can name the layer.
pub(super) struct Sourced<T> {
    pub(super) value: T,
    pub(super) source: Source,
}

pub(super) fn invalid(
    option: OptionSpec,
    source: Source,
    value: String,
    reason: String,
) -> ConfigError {
    ConfigError::Invalid {
        option: option.key,
        from: source,
        value,
        reason,
    }
}

/// Reads the environment layer through `env`, so tests need not mutate the process
/// environment (which is shared between test threads).
pub(super) struct Layers<'a> {
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
}

impl Layers<'_> {
    pub(super) fn env_value(&self, var: &str) -> Option<String> {
        (self.env)(var).filter(|v| !v.trim().is_empty())
    }

    /// flag > env > file > default, without validation.
    pub(super) fn pick<T>(
        &self,
        option: OptionSpec,
        flag: Option<T>,
        file: Option<T>,
        default: T,
    ) -> Result<Sourced<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        if let Some(value) = flag {
            return Ok(Sourced {
                value,
                source: Source::Flag(option.flag),
            });
        }
        if let Some(raw) = self.env_value(option.env) {
            let source = Source::Env(option.env.to_string());
            return match raw.trim().parse::<T>() {
                Ok(value) => Ok(Sourced { value, source }),
                Err(e) => Err(invalid(option, source, raw, e.to_string())),
            };
        }
        Ok(match file {
            Some(value) => Sourced {
                value,
                source: Source::File(option.key),
            },
            None => Sourced {
                value: default,
                source: Source::Default,
            },
        })
    }

    /// Like [`pick`], for options the file holds as strings (addresses).
    pub(super) fn pick_parsed<T>(
        &self,
        option: OptionSpec,
        flag: Option<T>,
        file: Option<&String>,
        default: T,
    ) -> Result<Sourced<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let file = match file {
            Some(text) => Some(text.trim().parse::<T>().map_err(|e| {
                invalid(
                    option,
                    Source::File(option.key),
                    text.clone(),
                    e.to_string(),
                )
            })?),
            None => None,
        };
        self.pick(option, flag, file, default)
    }
}

/// `value >= min`, else an error naming the option and layer.
pub(super) fn at_least<T>(option: OptionSpec, sourced: Sourced<T>, min: T) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display,
{
    if sourced.value < min {
        return Err(invalid(
            option,
            sourced.source,
            sourced.value.to_string(),
            format!("must be at least {min}"),
        ));
    }
    Ok(sourced.value)
}

pub(super) fn at_most<T>(option: OptionSpec, sourced: Sourced<T>, max: T) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display,
{
    if sourced.value > max {
        return Err(invalid(
            option,
            sourced.source,
            sourced.value.to_string(),
            format!("must be at most {max}"),
        ));
    }
    Ok(sourced.value)
}

impl Layers<'_> {
    /// flag > env > file > default, then `min <= value <= max`, each failure naming the option
    /// and the layer the value came from.
    pub(super) fn bounded<T>(
        &self,
        option: OptionSpec,
        flag: Option<T>,
        file: Option<T>,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
        T::Err: std::fmt::Display,
    {
        let sourced = self.pick(option, flag, file, default)?;
        let source = sourced.source.clone();
        let value = at_least(option, sourced, min)?;
        at_most(option, Sourced { value, source }, max)
    }
}
