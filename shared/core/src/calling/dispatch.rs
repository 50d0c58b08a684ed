//! Placing calls. A dial job asks for one attempt of one lead; the dispatcher
//! places it only inside the lead's calling hours, never to a suppressed
//! number, within the deployment's, tenant's and campaign's concurrency and
//! the provider account's call starts per second, and at most once however
//! often the job is delivered.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::calling::attempt::{AttemptStatus, CallAttempt};
use crate::calling::call::{CallRef, DialError, PlaceCall, VoiceDialer};
use crate::calling::calling_hours::next_call_time;
use crate::calling::follow_up::{FireFollowUp, Fired, FiredBy};
use crate::calling::lead::{CallOutcome, Lead, LeadStatus};
use crate::calling::waiting::{Waiter, Waiting, give_back};
use crate::calling::work::{
    CampaignSweep, DeploymentLimits, DialJob, DialMessage, FollowUp, SlotClaim, SlotScope,
};
use crate::intake::campaign::{Campaign, CampaignStatus};
use crate::intake::tenant::{Tenant, VoiceProvider};
use crate::kernel::error::{Error, Result};
use crate::kernel::time::Clock;
use crate::ports::{
    CallStore, CampaignStore, DialContext, DialQueue, LeadStore, Page, PageRequest,
};
use crate::write::{
    Change, Commit, Decision as Decided, Effect, Effects, Entity, Precondition, Refused, UseCase,
    run,
};
use async_trait::async_trait;
use std::sync::Mutex;

/// How often a job is put back for a free slot or a failing provider before
/// it is left to the dead-letter queue.
pub const MAX_TRIES: u32 = 8;
/// After a create-call request timed out, how long to wait for an event about
/// the call before concluding it was never placed.
pub const CONFIRM_WINDOW: SignedDuration = SignedDuration::from_secs(120);

/// The providers' dialers, one per account.
pub trait Dialers: Send + Sync {
    fn dialer(&self, provider: VoiceProvider) -> &dyn VoiceDialer;
}

/// What to do with a dial job, by the rules alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Dial,
    /// Not now: the campaign starts later, or the lead's calling hours are closed.
    Wait(Timestamp),
    /// The job has nothing left to do.
    Drop(&'static str),
    /// The number is on the do-not-call list: suppress the lead, never dial.
    Suppress,
}

pub fn decide(
    job: &DialJob,
    tenant: &Tenant,
    campaign: Option<&Campaign>,
    lead: &Lead,
    suppressed: bool,
    now: Timestamp,
) -> Decision {
    if lead.status == LeadStatus::DoNotCall {
        return Decision::Drop("the lead is on the do-not-call list");
    }
    if suppressed {
        return Decision::Suppress;
    }
    if lead.attempts != job.attempt || lead.status != LeadStatus::Queued {
        return Decision::Drop("the lead has moved on: a stale or repeated job");
    }
    // A manual call, or a call owed to a caller (an inbound lead is in no
    // campaign), is placed whatever any campaign's state.
    if !job.manual && !lead.campaign.is_inbound() {
        match campaign {
            None => return Decision::Drop("the campaign no longer exists"),
            Some(c) if c.status != CampaignStatus::Running => {
                return Decision::Drop("the campaign is not running");
            }
            Some(c) => {
                if let Some(start) = c.start_at.filter(|s| *s > now) {
                    return Decision::Wait(start);
                }
            }
        }
    }
    match next_call_time(lead, tenant, now) {
        None => Decision::Drop("the tenant's calling hours never meet the legal ones"),
        Some(at) if at > now => Decision::Wait(at),
        Some(_) => Decision::Dial,
    }
}

/// The wait before try `tries + 1`: 10 s doubling to at most 10 minutes.
pub fn backoff(tries: u32) -> Duration {
    Duration::from_secs((10u64 << tries.min(6)).min(600))
}

/// When a job that found no free slot comes back by itself: 60 s doubling
/// to at most 10 minutes. A call that ends wakes the oldest waiting job
/// sooner ([`crate::calling::waiting`]); this is the safety net for a wake that is
/// lost, or a limit raised while jobs wait.
pub fn slot_backoff(tries: u32) -> Duration {
    Duration::from_secs((60u64 << tries.min(4)).min(600))
}

/// What became of a dial job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialResult {
    Placed {
        provider_call_id: String,
    },
    Waiting(Timestamp),
    Dropped(&'static str),
    Suppressed,
    /// No free slot (or no call start left this second); the job comes back
    /// then, or sooner when a call of its scope ends.
    Deferred {
        scope: String,
        until: Timestamp,
    },
    /// A woken job found no free slot in `scope` after all: it waits again
    /// (its own retry is on its way already).
    WaitsForSlot {
        scope: SlotScope,
    },
    /// The provider refused the number: the lead is invalid.
    InvalidNumber(String),
    /// The provider was busy or failing; the job comes back then.
    Retrying {
        reason: String,
        until: Timestamp,
    },
    /// A follow-up fired for a lead no longer owed that call, and why.
    NotOwed(String),
}

/// The dial-job use case.
pub struct Dispatcher<'a, S, Q, D, C> {
    pub store: &'a S,
    pub queue: &'a Q,
    pub dialers: &'a D,
    pub clock: &'a C,
    pub limits: DeploymentLimits,
}

/// What the first step of a dial job came to.
enum Begin {
    Done(DialResult),
    /// The attempt is claimed and holds its slots: place the call.
    Place {
        tenant: Box<Tenant>,
        lead: Box<Lead>,
        attempt: Box<CallAttempt>,
    },
}

/// The first step of a dial job: the rules, then the attempt recorded with
/// its slots (or the redial of a timed-out one claimed), in one write.
struct BeginDial<'a, S, C> {
    store: &'a S,
    clock: &'a C,
    limits: DeploymentLimits,
    job: &'a DialJob,
    /// The slots the last decision asked for, for what its refusal comes to.
    claimed: Mutex<Option<SlotClaim>>,
}

impl<S, C: Clock> BeginDial<'_, S, C> {
    fn later(&self, now: Timestamp, wait: Duration) -> Timestamp {
        later(self.clock, now, wait)
    }

    fn requeue(job: DialJob, at: Timestamp) -> Effect {
        Effect::Dial {
            message: DialMessage::Dial(job),
            at,
        }
    }

    /// The job's waiter goes with `changes`, if it waits.
    fn stop_waiting(&self, mut changes: Vec<Change>) -> Vec<Change> {
        if let Some(waiting) = &self.job.waiting {
            changes.push(Change::StopWaiting(Waiter::of(self.job, waiting)));
        }
        changes
    }

    /// The job is done with: nothing is written but its waiter going.
    fn done(&self, result: DialResult) -> Decided<Begin> {
        Decided::new(
            self.stop_waiting(Vec::new()),
            Vec::new(),
            Begin::Done(result),
        )
    }

    /// No free slot in `scope`: the job waits for one (in its place in
    /// line, if it waited before) and, unless it is a woken copy, comes back
    /// by itself after the backoff.
    fn wait_for(&self, scope: &SlotScope, now: Timestamp) -> Decided<Begin> {
        let job = self.job;
        let limit = self.claimed.lock().ok().and_then(|claimed| {
            let claimed = claimed.as_ref()?;
            claimed
                .scopes
                .iter()
                .find(|(s, _)| s == scope)
                .map(|(_, limit)| *limit)
        });
        let waiting = Waiting {
            scope: scope.clone(),
            since: job.waiting.as_ref().map_or(now, |w| w.since),
        };
        let mut changes = Vec::new();
        if let Some(limit) = limit {
            changes.push(Change::Wait {
                waiter: Waiter::of(job, &waiting),
                limit,
            });
        }
        if let Some(before) = job.waiting.as_ref().filter(|w| w.scope != *scope) {
            changes.push(Change::StopWaiting(Waiter::of(job, before)));
        }
        if job.woken {
            return Decided::new(
                changes,
                Vec::new(),
                Begin::Done(DialResult::WaitsForSlot {
                    scope: scope.clone(),
                }),
            );
        }
        let until = self.later(now, slot_backoff(job.tries));
        let again = DialJob {
            waiting: Some(waiting),
            ..job.tried_again()
        };
        Decided::new(
            changes,
            vec![Self::requeue(again, until)],
            Begin::Done(DialResult::Deferred {
                scope: format!("{scope:?}"),
                until,
            }),
        )
    }
}

#[async_trait]
impl<S: CallStore, C: Clock> UseCase for BeginDial<'_, S, C> {
    type State = DialContext;
    type Answer = Begin;
    const WHAT: &'static str = "the dial job's lead";

    async fn load(&self) -> Result<DialContext> {
        self.store.dial_context(self.job).await
    }

    fn decide(&self, ctx: DialContext, now: Timestamp) -> Result<Decided<Begin>> {
        let job = self.job;
        let DialContext {
            tenant,
            campaign,
            lead,
            suppressed,
            attempt,
        } = ctx;
        let (Some(tenant), Some(mut lead)) = (tenant, lead) else {
            return Ok(self.done(DialResult::Dropped(
                "the tenant or the lead no longer exists",
            )));
        };
        match decide(job, &tenant, campaign.as_ref(), &lead, suppressed, now) {
            Decision::Drop(why) => {
                return Ok(self.done(DialResult::Dropped(why)));
            }
            Decision::Wait(until) => {
                // It no longer waits for a slot, but for the time to call.
                let later = DialJob {
                    waiting: None,
                    woken: false,
                    ..job.clone()
                };
                return Ok(Decided::new(
                    self.stop_waiting(Vec::new()),
                    vec![Self::requeue(later, until)],
                    Begin::Done(DialResult::Waiting(until)),
                ));
            }
            Decision::Suppress => {
                lead.suppress("the number is on the do-not-call list", now);
                let effects = lead.take_effects();
                return Ok(Decided::new(
                    self.stop_waiting(vec![Change::Save(Entity::Lead(lead))]),
                    effects,
                    Begin::Done(DialResult::Suppressed),
                ));
            }
            Decision::Dial => {}
        }
        let (change, attempt) = match attempt {
            None => {
                let attempt = CallAttempt {
                    stuck_after: Some(self.limits.stuck_after(now)),
                    ..CallAttempt::dialing(
                        &job.call(),
                        job.campaign.clone(),
                        tenant.voice.provider,
                        now,
                    )
                };
                let claim =
                    self.limits
                        .claim(&attempt, &tenant, campaign.as_ref(), self.clock.wall(now));
                if let Ok(mut claimed) = self.claimed.lock() {
                    *claimed = Some(claim.clone());
                }
                (
                    self.stop_waiting(vec![
                        Change::Create(Entity::Attempt(attempt.clone())),
                        Change::TakeSlots(claim),
                    ]),
                    CallAttempt {
                        version: 1,
                        ..attempt
                    },
                )
            }
            // The create-call request timed out earlier and no event about the
            // call came since: it was never placed. Claim the redial, so that
            // only one delivery makes it; the attempt still holds its slots.
            Some(mut attempt)
                if attempt.status == AttemptStatus::Dialing
                    && attempt.redial_after.is_some_and(|t| t <= now) =>
            {
                attempt.redial_after = None;
                let change = vec![Change::Save(Entity::Attempt(attempt.clone()))];
                attempt.version += 1;
                (change, attempt)
            }
            Some(_) => {
                return Ok(self.done(DialResult::Dropped("the attempt was dialed already")));
            }
        };
        Ok(Decided::new(
            change,
            Vec::new(),
            Begin::Place {
                tenant: Box::new(tenant),
                lead: Box::new(lead),
                attempt: Box::new(attempt),
            },
        ))
    }

    fn refused(&self, refused: &Refused, now: Timestamp) -> Option<Decided<Begin>> {
        let job = self.job;
        match refused {
            Refused::Precondition(Precondition::Exists) | Refused::Duplicate => {
                Some(Decided::answer(Begin::Done(DialResult::Dropped(
                    "another delivery of the job is dialing",
                ))))
            }
            Refused::Precondition(Precondition::Paced) => {
                let next_second = self.later(now, Duration::from_secs(1));
                Some(Decided::effects(
                    vec![Self::requeue(job.clone(), next_second)],
                    Begin::Done(DialResult::Deferred {
                        scope: "call starts per second".into(),
                        until: next_second,
                    }),
                ))
            }
            Refused::Precondition(Precondition::NoSlot(scope)) => Some(self.wait_for(scope, now)),
            Refused::Stale => None,
        }
    }
}

/// A change of the lead and attempt a job is dialing, decided first on the
/// state the job holds and, after a lost race with a webhook, on fresh state.
struct Settle<'a, S, F> {
    store: &'a S,
    job: &'a DialJob,
    held: Mutex<Option<(Lead, CallAttempt)>>,
    change: F,
}

#[async_trait]
impl<S, F> UseCase for Settle<'_, S, F>
where
    S: CallStore,
    F: Fn(Lead, CallAttempt) -> Decided<()> + Send + Sync,
{
    type State = (Lead, CallAttempt);
    type Answer = ();
    const WHAT: &'static str = "the call";

    async fn load(&self) -> Result<(Lead, CallAttempt)> {
        let held = self.held.lock().ok().and_then(|mut held| held.take());
        if let Some(held) = held {
            return Ok(held);
        }
        let ctx = self.store.call_context(&self.job.call()).await?;
        match (ctx.lead, ctx.attempt) {
            (Some(lead), Some(attempt)) => Ok((lead, attempt)),
            _ => Err(Error::Internal("the attempt vanished while dialing".into())),
        }
    }

    fn decide(&self, (lead, attempt): (Lead, CallAttempt), _: Timestamp) -> Result<Decided<()>> {
        Ok((self.change)(lead, attempt))
    }
}

fn later(clock: &impl Clock, now: Timestamp, wait: Duration) -> Timestamp {
    now + clock.stretch(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX))
}

impl<S, Q, D, C> Dispatcher<'_, S, Q, D, C>
where
    S: CallStore + LeadStore + Commit,
    Q: DialQueue,
    D: Dialers,
    C: Clock,
{
    pub async fn dial(&self, job: &DialJob) -> Result<DialResult> {
        let begin = BeginDial {
            store: self.store,
            clock: self.clock,
            limits: self.limits,
            job,
            claimed: Mutex::new(None),
        };
        match run(self.store, &self.effects(), &begin, self.clock.now()).await? {
            Begin::Done(result) => Ok(result),
            Begin::Place {
                tenant,
                lead,
                attempt,
            } => self.place(job, &tenant, *lead, *attempt).await,
        }
    }

    /// An owed call's schedule fired: queue the lead for the attempt and dial it.
    pub async fn follow_up(&self, follow_up: &FollowUp) -> Result<DialResult> {
        let fire = FireFollowUp {
            store: self.store,
            follow_up,
            by: FiredBy::Schedule,
        };
        match run(self.store, &self.effects(), &fire, self.clock.now()).await? {
            Fired::Queued(job) => self.dial(&job).await,
            Fired::Skipped(why) => Ok(DialResult::NotOwed(why)),
        }
    }

    pub(crate) fn effects(&self) -> DialEffects<'_, Q> {
        DialEffects(self.queue)
    }

    async fn place(
        &self,
        job: &DialJob,
        tenant: &Tenant,
        lead: Lead,
        attempt: CallAttempt,
    ) -> Result<DialResult> {
        let request = place_call(tenant, &lead, job.call());
        let placed = self
            .dialers
            .dialer(tenant.voice.provider)
            .place_call(&request)
            .await;
        let now = self.clock.now();
        let held = (lead, attempt);
        match placed {
            Ok(placed) => {
                let id = placed.provider_call_id.clone();
                self.settle(job, held, move |mut lead, mut attempt| {
                    // The provider's answer names the attempt's call. A call
                    // id a webhook recorded first can only be another call of
                    // this attempt: a timed-out request's, reporting late
                    // while this redial was asked for. Once that call has
                    // ended, though, it settled the attempt and gave its
                    // slots back: the attempt stays its.
                    if !attempt.is_ended() {
                        attempt.provider_call_id = Some(id.clone());
                    }
                    attempt.advance(AttemptStatus::Placed);
                    lead.start_call(job.attempt, now).ok();
                    saved(lead, attempt, false)
                })
                .await?;
                Ok(DialResult::Placed {
                    provider_call_id: placed.provider_call_id,
                })
            }
            Err(DialError::InvalidNumber(reason)) => {
                let note = format!("the provider refused the number: {reason}");
                self.settle(job, held, |mut lead, mut attempt| {
                    attempt.outcome = Some(CallOutcome::InvalidNumber);
                    let released = attempt.advance(AttemptStatus::Ended);
                    lead.finish_call(job.attempt, CallOutcome::InvalidNumber, false, now)
                        .ok();
                    lead.note = Some(note.clone());
                    saved(lead, attempt, released)
                })
                .await?;
                Ok(DialResult::InvalidNumber(reason))
            }
            Err(DialError::Throttled {
                reason,
                retry_after,
            }) => {
                let until = later(
                    self.clock,
                    now,
                    retry_after.unwrap_or_default().max(backoff(job.tries)),
                );
                self.abandon(job, held, Some(until)).await?;
                Ok(DialResult::Retrying { reason, until })
            }
            Err(DialError::Timeout) => {
                // The call may have been placed: keep the attempt (and its
                // slots), and come back once its events would have arrived.
                let until = now
                    + self.clock.stretch(CONFIRM_WINDOW.max(
                        SignedDuration::try_from(backoff(job.tries)).unwrap_or(CONFIRM_WINDOW),
                    ));
                let again = Effect::Dial {
                    message: DialMessage::Dial(job.tried_again()),
                    at: until,
                };
                self.settle(job, held, |_, mut attempt| {
                    // A webhook that came meanwhile says the call was placed.
                    if attempt.status != AttemptStatus::Dialing {
                        return Decided::effects(vec![again.clone()], ());
                    }
                    attempt.redial_after = Some(until);
                    Decided::new(
                        vec![Change::Save(Entity::Attempt(attempt))],
                        vec![again.clone()],
                        (),
                    )
                })
                .await?;
                Ok(DialResult::Retrying {
                    reason: DialError::Timeout.to_string(),
                    until,
                })
            }
            Err(error @ (DialError::Unavailable(_) | DialError::Rejected { .. })) => {
                let retryable = matches!(error, DialError::Unavailable(_));
                if retryable && job.tries < MAX_TRIES {
                    let until = later(self.clock, now, backoff(job.tries));
                    self.abandon(job, held, Some(until)).await?;
                    return Ok(DialResult::Retrying {
                        reason: error.to_string(),
                        until,
                    });
                }
                self.abandon(job, held, None).await?;
                // Left to SQS: redelivered, then the dead-letter queue.
                Err(Error::Unavailable(error.to_string()))
            }
        }
    }

    /// Applies `change` to the lead and attempt as this job left them, or,
    /// when a webhook saved either in between, as they are now.
    async fn settle(
        &self,
        job: &DialJob,
        held: (Lead, CallAttempt),
        change: impl Fn(Lead, CallAttempt) -> Decided<()> + Send + Sync,
    ) -> Result<()> {
        let settle = Settle {
            store: self.store,
            job,
            held: Mutex::new(Some(held)),
            change,
        };
        run(self.store, &self.effects(), &settle, self.clock.now()).await
    }

    /// The provider never took the call: remove the attempt, give its slots
    /// back, and put the job back for `again` if there is one. A provider
    /// that refused for its load (the job comes back later) is not handed
    /// the next waiting job at once; one that refused for good is.
    async fn abandon(
        &self,
        job: &DialJob,
        held: (Lead, CallAttempt),
        again: Option<Timestamp>,
    ) -> Result<()> {
        let requeue: Option<Effect> = again.map(|at| Effect::Dial {
            message: DialMessage::Dial(job.tried_again()),
            at,
        });
        self.settle(job, held, |_, attempt| {
            // A webhook that came meanwhile says the provider took the call
            // after all: the attempt is the call's now, and keeps its slots.
            if attempt.status != AttemptStatus::Dialing || attempt.provider_call_id.is_some() {
                return Decided::effects(Vec::new(), ());
            }
            let (release, wake) = give_back(&attempt);
            let effects = match &requeue {
                Some(requeue) => vec![requeue.clone()],
                None => vec![wake],
            };
            Decided::new(
                vec![release, Change::Delete(Entity::Attempt(attempt))],
                effects,
                (),
            )
        })
        .await
    }
}

/// The lead and attempt saved together, with the lead's effects; an attempt
/// that just ended gives its slots back, and wakes a job waiting for them.
fn saved(mut lead: Lead, attempt: CallAttempt, released: bool) -> Decided<()> {
    let mut effects = lead.take_effects();
    let mut changes = Vec::new();
    if released {
        let (release, wake) = give_back(&attempt);
        changes.push(release);
        effects.push(wake);
    }
    changes.push(Change::Save(Entity::Lead(lead)));
    changes.push(Change::Save(Entity::Attempt(attempt)));
    Decided::new(changes, effects, ())
}

/// The dispatcher's effects: jobs put back on the dial queue, and wakes. It
/// schedules and sends nothing; a decision that asks it to is a bug, and fails.
pub(crate) struct DialEffects<'a, Q>(&'a Q);

#[async_trait]
impl<Q: DialQueue> Effects for DialEffects<'_, Q> {
    async fn carry_out(&self, effects: &[Effect], now: Timestamp) -> Result<()> {
        let mut dials = Vec::new();
        for effect in effects {
            match effect {
                Effect::Dial { message, at } => dials.push((message.clone(), *at)),
                Effect::Wake(wake) => dials.push((DialMessage::Wake(wake.clone()), now)),
                other => {
                    return Err(Error::Internal(format!(
                        "the dispatcher cannot carry out {}",
                        other.id()
                    )));
                }
            }
        }
        self.0.enqueue(&dials, now).await
    }
}

/// The provider request for a lead's call, with what the agent may say.
pub fn place_call(tenant: &Tenant, lead: &Lead, call: CallRef) -> PlaceCall {
    let mut variables = BTreeMap::new();
    variables.insert("business_name".into(), tenant.name.clone());
    if let Some(name) = &lead.name {
        variables.insert("name".into(), name.clone());
        if let Some(first) = name.split_whitespace().next() {
            variables.insert("first_name".into(), first.to_owned());
        }
    }
    if let Some(partner) = &lead.partner {
        variables.insert("partner".into(), partner.clone());
    }
    PlaceCall {
        provider: tenant.voice.provider,
        call,
        to: lead.phone.clone(),
        from: tenant.voice.from_number.clone(),
        agent_id: tenant.voice.agent_id.clone(),
        phone_number_id: tenant.voice.phone_number_id.clone(),
        variables,
    }
}

/// Leads a sweep queues per page: with its outbox, one transaction of at
/// most 100 items.
pub const SWEEP_PAGE: u32 = 99;

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepResult {
    pub queued: usize,
    /// Jobs sent again for leads already queued (a resumed campaign).
    pub resent: usize,
    pub next: Option<Timestamp>,
}

/// Queues one page of a campaign's leads: each `new` lead becomes attempt 1
/// and each already `queued` lead gets its job again. Jobs are spaced at the
/// campaign's call starts per second, and the next page is swept when this
/// page's last job is due. The page's leads are queued in one commit whose
/// outbox holds their jobs: a lead is never left queued with no job coming.
pub async fn sweep_campaign<S, Q>(
    store: &S,
    queue: &Q,
    sweep: &CampaignSweep,
    clock: &impl Clock,
) -> Result<SweepResult>
where
    S: CampaignStore + LeadStore + Commit,
    Q: DialQueue,
{
    let use_case = SweepCampaign {
        store,
        sweep,
        clock,
    };
    run(store, &DialEffects(queue), &use_case, clock.now()).await
}

/// One page of a campaign sweep.
struct SweepCampaign<'a, S, C> {
    store: &'a S,
    sweep: &'a CampaignSweep,
    clock: &'a C,
}

#[async_trait]
impl<S: CampaignStore + LeadStore, C: Clock> UseCase for SweepCampaign<'_, S, C> {
    type State = Option<(Campaign, Page<Lead>)>;
    type Answer = SweepResult;
    const WHAT: &'static str = "the campaign's page of leads";

    async fn load(&self) -> Result<Self::State> {
        let sweep = self.sweep;
        let Some(campaign) = self.store.campaign(&sweep.tenant, &sweep.campaign).await? else {
            return Ok(None);
        };
        let Some(&status) = sweep.statuses.first() else {
            return Ok(None);
        };
        if campaign.status != CampaignStatus::Running {
            return Ok(None);
        }
        let page = self
            .store
            .leads(
                &sweep.tenant,
                &sweep.campaign,
                Some(status),
                &PageRequest {
                    limit: SWEEP_PAGE,
                    cursor: sweep.cursor.clone(),
                },
            )
            .await?;
        Ok(Some((campaign, page)))
    }

    fn decide(&self, state: Self::State, now: Timestamp) -> Result<Decided<SweepResult>> {
        let Some((campaign, page)) = state else {
            return Ok(Decided::answer(SweepResult::default()));
        };
        Ok(sweep_page(self.sweep, &campaign, page, now, self.clock))
    }
}

/// The rule of a sweep's page: queue its new leads, send every queued lead's
/// job at the campaign's pace, and sweep the next page after the last job.
fn sweep_page(
    sweep: &CampaignSweep,
    campaign: &Campaign,
    page: Page<Lead>,
    now: Timestamp,
    clock: &impl Clock,
) -> Decided<SweepResult> {
    let start = campaign.start_at.map_or(now, |s| s.max(now));
    let mut changes = Vec::new();
    let mut jobs = Vec::new();
    for mut lead in page.items {
        if lead.status == LeadStatus::New {
            if lead.queue(lead.attempts + 1, now).is_err() {
                continue;
            }
            jobs.push(DialJob::for_lead(&lead, false));
            changes.push(Change::Save(Entity::Lead(lead)));
        } else if lead.status == LeadStatus::Queued {
            jobs.push(DialJob::for_lead(&lead, false));
        }
    }
    // Spaced in wall-clock time: the pace is the provider's, whatever the clock.
    let spacing = clock.stretch(SignedDuration::from_millis(
        1000 / i64::from(campaign.pacing.calls_per_second.max(1)),
    ));
    let at = |k: usize| start + spacing * k as i32;
    let mut effects: Vec<Effect> = jobs
        .iter()
        .enumerate()
        .map(|(k, job)| Effect::Dial {
            message: DialMessage::Dial(job.clone()),
            at: at(k),
        })
        .collect();
    let next = match (page.next_cursor, sweep.statuses.len()) {
        (Some(cursor), _) => Some(CampaignSweep {
            cursor: Some(cursor),
            ..sweep.clone()
        }),
        (None, n) if n > 1 => Some(CampaignSweep {
            statuses: sweep.statuses[1..].to_vec(),
            cursor: None,
            ..sweep.clone()
        }),
        (None, _) => None,
    };
    let next_at = next.as_ref().map(|_| at(jobs.len()));
    if let (Some(next), Some(when)) = (next, next_at) {
        effects.push(Effect::Dial {
            message: DialMessage::Sweep(next),
            at: when,
        });
    }
    let queued = changes.len();
    let answer = SweepResult {
        queued,
        resent: jobs.len() - queued,
        next: next_at,
    };
    Decided::new(changes, effects, answer)
}

#[cfg(test)]
pub(crate) mod tests;
