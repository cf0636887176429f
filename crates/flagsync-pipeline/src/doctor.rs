//! `flagsync doctor`: checks that each configured provider can be used, with what the APIs
//! offer: the URL answers, the credentials are accepted, the application and environments
//! exist. What those endpoints cannot tell apart is reported as not checked, never as
//! passed.

use flagsync_remote::{CloudBeesClient, ConfidenceClient, RemoteError, UnifyClient};

/// One check and how it came out.
#[derive(Debug)]
pub struct Check {
    /// What was checked, e.g. `environment Production`.
    pub subject: String,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// It holds; what shows it.
    Passed(String),
    /// It does not hold: the error the service (or the network) gave.
    Failed(RemoteError),
    /// It does not hold, as the service's answer shows (what is missing, and a hint).
    Missing { what: String, help: String },
    /// The APIs cannot tell; why.
    NotChecked(String),
}

impl Check {
    fn new(subject: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            subject: subject.into(),
            outcome,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_) | Outcome::Missing { .. })
    }
}

/// The API answers and accepts the token (one list of target groups), the application
/// exists, and each of `environments` does: against the application's environments list
/// where the deployment serves it (as plan checks them), and one experiments list each.
pub async fn check_cloudbees(client: &CloudBeesClient, environments: &[String]) -> Vec<Check> {
    let mut checks = Vec::new();
    let application = format!("application {}", client.application());
    let groups = match client.list_target_groups().await {
        Ok(groups) => {
            checks.push(Check::new(
                "API and credentials",
                Outcome::Passed(format!(
                    "{}/applications/…/target-groups answered with {} target group(s)",
                    client.base_url(),
                    groups.len()
                )),
            ));
            groups.len()
        }
        Err(e) => {
            let subject = failed_subject(&e);
            checks.push(Check::new(subject, Outcome::Failed(e)));
            checks.push(Check::new(
                application,
                Outcome::NotChecked(format!("needs the {subject} check to pass")),
            ));
            for env in environments {
                checks.push(Check::new(
                    format!("environment {env}"),
                    Outcome::NotChecked(format!("needs the {subject} check to pass")),
                ));
            }
            return checks;
        }
    };

    // The environments list, where served, says which names the application has; plan
    // refuses the others, so doctor fails them the same way.
    let known = match client.list_environments().await {
        Ok(Some(known)) => Some(known.into_iter().map(|e| e.name).collect::<Vec<_>>()),
        Ok(None) => None,
        Err(e) => {
            checks.push(Check::new("environments list", Outcome::Failed(e)));
            None
        }
    };
    let mut listed_anywhere = false;
    let mut env_checks = Vec::new();
    for env in environments {
        let subject = format!("environment {env}");
        if let Some(known) = &known
            && !known.contains(env)
        {
            let listed = if known.is_empty() {
                "the application lists none".to_owned()
            } else {
                format!("the application has: {}", known.join(", "))
            };
            let help = match flagsync_manifest::did_you_mean(env, known.iter().map(String::as_str))
            {
                Some(close) => format!("did you mean `{close}`? {listed}"),
                None => format!("{listed}; names are case-sensitive"),
            };
            env_checks.push(Check::new(
                subject,
                Outcome::Missing {
                    what: format!(
                        "not an environment of application {} (its environments list)",
                        client.application()
                    ),
                    help,
                },
            ));
            continue;
        }
        env_checks.push(match client.list_experiments(env).await {
            Ok(list) if !list.is_empty() => {
                listed_anywhere = true;
                Check::new(
                    subject,
                    Outcome::Passed(format!("{} experiment(s) listed", list.len())),
                )
            }
            Ok(_) if known.is_some() => Check::new(
                subject,
                Outcome::Passed("the application's environments list has it".to_owned()),
            ),
            Ok(_) => Check::new(
                subject,
                Outcome::NotChecked(
                    "no experiment listed: through the public API an environment without \
                     flags that have release rules looks like one that does not exist"
                        .to_owned(),
                ),
            ),
            Err(e) => Check::new(subject, Outcome::Failed(e)),
        });
    }
    checks.push(Check::new(
        application,
        if groups > 0 {
            Outcome::Passed(format!("it has {groups} target group(s)"))
        } else if listed_anywhere {
            Outcome::Passed("its environments list experiments".to_owned())
        } else {
            Outcome::NotChecked(
                "no target group and no experiment listed: through the public API an empty \
                 application looks like one that does not exist"
                    .to_owned(),
            )
        },
    ));
    checks.extend(env_checks);
    checks
}

/// CloudBees Unify: the API answers and accepts the token, the organization and the
/// application exist (the names they resolve to), and each of `environments` exists in the
/// organization and is linked to the application.
pub async fn check_unify(client: &UnifyClient, environments: &[String]) -> Vec<Check> {
    let mut checks = Vec::new();
    let account = match client.account().await {
        Ok(account) => account,
        Err(e) => {
            let subject = match &e {
                RemoteError::UnknownApplication { .. } => "application",
                RemoteError::NotFound { .. } if client.account_requests() == 3 => "organization",
                other => failed_subject(other),
            };
            checks.push(Check::new(subject, Outcome::Failed(e)));
            for env in environments {
                checks.push(Check::new(
                    format!("environment {env}"),
                    Outcome::NotChecked(format!("needs the {subject} check to pass")),
                ));
            }
            return checks;
        }
    };
    checks.push(Check::new(
        "API and credentials",
        Outcome::Passed(format!(
            "{} answered: organization {} is {}",
            client.base_url(),
            client.organization(),
            account.organization_id
        )),
    ));
    checks.push(Check::new(
        format!("application {}", client.application()),
        Outcome::Passed(format!(
            "{} ({}), linked to {} environment(s)",
            account.application_name,
            account.application_id,
            account.environments.iter().filter(|e| e.linked).count()
        )),
    ));
    for env in environments {
        let subject = format!("environment {env}");
        checks.push(match client.environment_id(env).await {
            Ok(id) => Check::new(
                subject,
                Outcome::Passed(format!("{id}, linked to the application")),
            ),
            Err(e) => Check::new(subject, Outcome::Failed(e)),
        });
    }
    checks
}

/// The token endpoint accepts the client credentials (when they are used), and the API
/// answers and accepts the token (one page of one rollout).
pub async fn check_confidence(client: &ConfidenceClient) -> Vec<Check> {
    let mut checks = Vec::new();
    match client.authenticate().await {
        Ok(true) => checks.push(Check::new(
            "client credentials",
            Outcome::Passed(format!(
                "{} issued a token",
                client.token_url().unwrap_or_default()
            )),
        )),
        Ok(false) => {}
        Err(e) => {
            checks.push(Check::new("client credentials", Outcome::Failed(e)));
            checks.push(Check::new(
                "API",
                Outcome::NotChecked("needs a token from the token endpoint".to_owned()),
            ));
            return checks;
        }
    }
    checks.push(match client.first_rollouts(1).await {
        Ok(page) => Check::new(
            "API and credentials",
            Outcome::Passed(format!(
                "{}/v1/workflows/rollout/instances answered ({} rollout(s) on a page of one)",
                client.base_url(),
                page.len()
            )),
        ),
        Err(e) => {
            let subject = failed_subject(&e);
            Check::new(subject, Outcome::Failed(e))
        }
    });
    checks
}

/// What a failed first request says was wrong.
fn failed_subject(e: &RemoteError) -> &'static str {
    match e {
        RemoteError::Unauthorized { .. } => "credentials",
        RemoteError::NotFound { .. } => "base URL",
        RemoteError::Transport { .. }
        | RemoteError::Timeout { .. }
        | RemoteError::InsecureUrl { .. }
        | RemoteError::InvalidUrl { .. } => "URL reachable",
        _ => "API",
    }
}
