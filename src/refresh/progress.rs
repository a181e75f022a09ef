//! Where each service of a run stands: one typed value per service, keyed by its name,
//! that moves through the steps of a refresh. A step reads the services at the stage it
//! works on and moves each one on, or to `Failed` with its error; nothing is found again
//! by name in side lists.

use std::collections::HashMap;

use google_tokens::Breadth;
use libpq_files::pgpass::Shadowed;

use super::Outcome;
use super::instances::Target;
use super::mint::Minted;
use crate::config::Service;
use crate::error::Error;

/// One service's stage.
pub enum Stage {
    /// Not due: its entry stays; its section is brought up to date if it is stale.
    Current,
    /// Due, for the reason given (for `-v` and the log line).
    Planned,
    /// Due, and where it connects is known.
    Resolved(Target),
    /// A new entry is ready, not written yet.
    Minted(Target, Minted),
    /// Its new entry and section are in both files.
    Written(Breadth),
    /// It cannot be refreshed: neither file changes for it.
    Failed(Error),
}

struct Tracked<'s> {
    service: &'s Service,
    /// Why it is due, when it is.
    reason: &'static str,
    stage: Stage,
}

/// Every selected service's stage, in the configuration's order: errors are reported in
/// that order whatever order the work finished in.
pub struct Progress<'s> {
    services: Vec<Tracked<'s>>,
    by_name: HashMap<&'s str, usize>,
}

impl<'s> Progress<'s> {
    /// Every service `Current` except the `due` ones, `Planned` with their reasons.
    pub fn new(services: &[&'s Service], due: &[(&'s Service, &'static str)]) -> Progress<'s> {
        let mut progress = Progress {
            services: services
                .iter()
                .map(|&service| Tracked {
                    service,
                    reason: "",
                    stage: Stage::Current,
                })
                .collect(),
            by_name: HashMap::new(),
        };
        progress.by_name = progress
            .services
            .iter()
            .enumerate()
            .map(|(i, t)| (t.service.name.as_str(), i))
            .collect();
        progress.replan(due);
        progress
    }

    /// A later plan: services no longer due are `Current` again, due ones are `Planned`.
    /// Failed services stay failed.
    pub fn replan(&mut self, due: &[(&'s Service, &'static str)]) {
        for tracked in &mut self.services {
            if matches!(tracked.stage, Stage::Planned) {
                tracked.stage = Stage::Current;
            }
        }
        for (service, reason) in due {
            if let Some(tracked) = self.get_mut(service.name.as_str()) {
                if matches!(tracked.stage, Stage::Current) {
                    tracked.stage = Stage::Planned;
                    tracked.reason = reason;
                }
            }
        }
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Tracked<'s>> {
        let i = *self.by_name.get(name)?;
        self.services.get_mut(i)
    }

    /// Moves `service` on to `stage`.
    pub fn set(&mut self, service: &Service, stage: Stage) {
        if let Some(tracked) = self.get_mut(service.name.as_str()) {
            tracked.stage = stage;
        }
    }

    /// `service` cannot be refreshed, because of `error`.
    pub fn fail(&mut self, service: &Service, error: Error) {
        self.set(service, Stage::Failed(error));
    }

    /// The services at the stage `pick` accepts, in order.
    pub fn at(&self, pick: impl Fn(&Stage) -> bool) -> Vec<&'s Service> {
        self.services
            .iter()
            .filter(|t| pick(&t.stage))
            .map(|t| t.service)
            .collect()
    }

    /// Every service with its stage, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'s Service, &Stage)> {
        self.services.iter().map(|t| (t.service, &t.stage))
    }

    /// Why `service` is due ("due" when it was not planned).
    pub fn reason(&self, service: &Service) -> &'static str {
        self.by_name
            .get(service.name.as_str())
            .and_then(|&i| self.services.get(i))
            .map(|t| t.reason)
            .filter(|r| !r.is_empty())
            .unwrap_or("due")
    }

    /// Takes `service`'s stage out, leaving it `Current` until it is set again.
    pub fn take(&mut self, service: &Service) -> Stage {
        self.get_mut(service.name.as_str())
            .map_or(Stage::Current, |t| {
                std::mem::replace(&mut t.stage, Stage::Current)
            })
    }

    /// What the run did: the services written, and those that failed, in order.
    pub fn finish(self, shadowed: Vec<Shadowed>) -> Outcome {
        let mut minted = Vec::new();
        let mut failed = Vec::new();
        for tracked in self.services {
            let name = tracked.service.name.to_string();
            match tracked.stage {
                Stage::Written(breadth) => minted.push((name, breadth)),
                Stage::Failed(error) => failed.push((name, error)),
                _ => {}
            }
        }
        Outcome {
            minted,
            failed,
            shadowed,
        }
    }
}
