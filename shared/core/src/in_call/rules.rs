//! The rules of a tool call: whose call it is, which service can be booked,
//! who attends, which free times to offer.

use super::*;

/// How long after the end its provider reported a call still takes tool
/// calls. Events and tool calls are separate requests, so the end event can
/// be applied before a tool call the agent sent as the caller hung up, or
/// before a retry of one that timed out (Retell retries a function up to
/// twice; docs/in-call-tools.md asks for an 8 s timeout); the provider's
/// clock and ours may differ by a few seconds too. Two minutes covers these
/// with room to spare and is far shorter than any reuse of an old call's
/// metadata.
pub const AFTER_THE_END: SignedDuration = SignedDuration::from_mins(2);

/// Whether a tool call on `line`, whose metadata is `ours`, may act for
/// the attempt leadline recorded under that metadata (`attempt`, read by
/// tenant, lead and attempt number). `Err` says why not, for the log.
///
/// The attempt must exist and be this tenant's, lead's and number's; it
/// was placed through the provider that sent the tool call; the provider
/// call id it recorded, once the provider's answer or first event gave one,
/// is this call's (before that, as while the create-call request is
/// unanswered, any call id is taken); and its call has not ended, or ended
/// at most [`AFTER_THE_END`] before the tool call arrived. An end without
/// a reported time (the sweep gave up on a stuck call) takes none.
pub fn check_attempt(
    line: &Line,
    ours: &CallRef,
    attempt: Option<&CallAttempt>,
) -> std::result::Result<(), &'static str> {
    let Some(attempt) = attempt else {
        return Err("leadline recorded no such attempt");
    };
    if attempt.tenant != line.tenant
        || attempt.tenant != ours.tenant
        || attempt.lead != ours.lead
        || attempt.number != ours.attempt
    {
        return Err("the attempt is another tenant's, lead's or number's");
    }
    if attempt.provider != line.provider {
        return Err("the attempt was placed through the other provider");
    }
    if attempt
        .provider_call_id
        .as_ref()
        .is_some_and(|id| *id != line.call_id)
    {
        return Err("the attempt recorded another provider call");
    }
    if attempt.is_ended() {
        match attempt.report.ended_at {
            Some(end) if line.arrived.duration_since(end) <= AFTER_THE_END => {}
            _ => return Err("the attempt's call has ended"),
        }
    }
    Ok(())
}

/// The service named in `service`, if it exists and may be booked by phone.
pub(super) fn bookable_service<'b>(
    business: &'b Business,
    args: Args<'_>,
) -> Result<&'b Service, ToolReply> {
    let Some(named) = args.text("service") else {
        return Err(ToolReply::error("Which service would you like to book?"));
    };
    let Some(service) = business.find_service(named) else {
        return Err(ToolReply::error(format!(
            "We don't offer a service called {named}. Would you like to hear what we offer?"
        )));
    };
    if !service.voice_booking {
        return Err(ToolReply::error(format!(
            "{} can't be booked by phone. Someone from the team will help you with it.",
            service.name
        )));
    }
    Ok(service)
}

pub(super) fn attendee(
    ready: &Ready<'_>,
    line: &Line,
    args: Args<'_>,
) -> Result<Attendee, ToolReply> {
    let lead = ready.lead.as_ref();
    let name = args
        .text("name")
        .map(str::to_owned)
        .or_else(|| lead.and_then(|l| l.name.clone()))
        .filter(|n| (1..=100).contains(&n.trim().len()));
    let Some(name) = name else {
        return Err(ToolReply::error("May I have your name for the booking?"));
    };
    let email = match args.text("email") {
        Some(raw) => Email::parse(raw).map_err(|_| {
            ToolReply::error("That email address doesn't look right. Could you spell it for me?")
        })?,
        None => match lead.and_then(|l| l.email.clone()) {
            Some(email) => email,
            None => {
                return Err(ToolReply::error(
                    "What email address should the confirmation go to?",
                ));
            }
        },
    };
    let phone = match args.text("phone") {
        Some(raw) => Some(Phone::parse(raw, None).map_err(|_| {
            ToolReply::error("That phone number doesn't look right. Could you say it again?")
        })?),
        None => lead
            .map(|l| l.phone.clone())
            .or_else(|| line.caller.clone()),
    };
    Ok(Attendee {
        name: name.trim().to_owned(),
        email,
        phone,
        zone: ready.zone.clone(),
    })
}

/// The `n` free times closest to `wanted`, in order of time.
pub fn nearest(slots: &[Timestamp], wanted: Timestamp, n: usize) -> Vec<Timestamp> {
    let mut by_distance: Vec<Timestamp> = slots.to_vec();
    by_distance.sort_by_key(|t| (t.duration_since(wanted).abs(), *t));
    by_distance.dedup();
    by_distance.truncate(n);
    by_distance.sort();
    by_distance
}
