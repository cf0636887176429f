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
        matches!(self.outcome, Outcome::Failed(_))
    }
}

/// The API answers and accepts the token (one list of target groups), the application
/// exists, and each of `environments` does (one experiments list each).
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

    let mut listed_anywhere = false;
    let mut env_checks = Vec::new();
    for env in environments {
        let subject = format!("environment {env}");
        env_checks.push(match client.list_experiments(env).await {
            Ok(list) if !list.is_empty() => {
                listed_anywhere = true;
                Check::new(
                    subject,
                    Outcome::Passed(format!("{} experiment(s) listed", list.len())),
                )
            }
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
