//! The `api` function: tenants, campaigns, lead import and leads, under
//! `/v1`. Each tenant calls with its own API key; tenant creation takes the
//! admin key. Another tenant's campaign or lead is simply "not found".

use jiff::Timestamp;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Request, RequestExt};
use leadline_core::appointments::business::{
    Business, BusinessSettings, Service, ServiceId, ServiceSettings,
};
use leadline_core::calling::lead::LeadStatus;
use leadline_core::calling::outbound::{CampaignMove, LeadAction};
use leadline_core::intake::campaign::NewCampaign;
use leadline_core::intake::tenant::{NewTenant, Tenant};
use leadline_core::messaging::message::MessageStatus;
use leadline_core::messaging::settings::{MessagingSettings, MessagingUpdate, OwnAccounts};
use leadline_core::ports::{
    BusinessStore, CampaignStore, DialQueue, FollowUpScheduler, InCallStore, LeadStore,
    MessageStore, Page, PageRequest, SuppressionStore, TenantStore, UsageStore,
};
use leadline_core::write::{Commit, EffectPorts, Unwired};
use leadline_core::{CampaignId, Clock, Error, LeadId, TenantId, calling::outbound, intake};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::{HttpResponse, bearer, body_bytes, error, from_error, json, parse_json};

pub struct Api<S, Q, F, C> {
    store: S,
    queue: Q,
    follow_ups: F,
    clock: C,
    admin_key_digest: [u8; 32],
    /// Where tenants' own messaging accounts are written (Secrets Manager).
    accounts: Option<std::sync::Arc<crate::accounts::SecretAccounts>>,
}

/// `PUT /v1/messaging`: the settings, and the tenant's own provider
/// accounts (written to Secrets Manager, never stored in the table or answered).
/// (Unknown fields are refused by [`MessagingUpdate`].)
#[derive(Debug, Deserialize)]
struct MessagingRequest {
    #[serde(flatten)]
    settings: MessagingUpdateFields,
    #[serde(default)]
    accounts: Option<leadline_messaging::MessagingAccounts>,
}

#[derive(Debug, Deserialize)]
struct MessagingUpdateFields(serde_json::Map<String, serde_json::Value>);

/// The routes, matched on method and path segments.
enum Route {
    CreateTenant,
    CreateCampaign,
    ListCampaigns,
    GetCampaign(String),
    StartCampaign(String),
    PauseCampaign(String),
    ResumeCampaign(String),
    ImportLeads(String),
    ListLeads(String),
    GetLead(String),
    DeleteLead(String),
    CallLead(String),
    MarkBooked(String),
    AddDoNotCall,
    ListDoNotCall,
    ListUsage,
    ListAppointments(String),
    GetBusiness,
    PutBusiness,
    ListServices,
    CreateService,
    GetService(String),
    PutService(String),
    DeleteService(String),
    GetMessaging,
    PutMessaging,
    ListLeadMessages(String),
    ListMessages,
    ListLeadCalls(String),
    GetLeadCall(String, String),
}

impl Route {
    /// The route, or the status and message of why there is none.
    fn parse(method: &Method, path: &str) -> Result<Route, (StatusCode, &'static str, String)> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let route = match segments.as_slice() {
            ["v1", "tenants"] => [(Method::POST, Route::CreateTenant)]
                .into_iter()
                .collect::<Vec<_>>(),
            ["v1", "campaigns"] => vec![
                (Method::POST, Route::CreateCampaign),
                (Method::GET, Route::ListCampaigns),
            ],
            ["v1", "campaigns", id] => match id.split_once(':') {
                None => vec![(Method::GET, Route::GetCampaign(id.to_string()))],
                Some((id, "start")) => vec![(Method::POST, Route::StartCampaign(id.to_string()))],
                Some((id, "pause")) => vec![(Method::POST, Route::PauseCampaign(id.to_string()))],
                Some((id, "resume")) => {
                    vec![(Method::POST, Route::ResumeCampaign(id.to_string()))]
                }
                Some(_) => return Err(no_route(path)),
            },
            ["v1", "campaigns", id, "leads:import"] => {
                vec![(Method::POST, Route::ImportLeads(id.to_string()))]
            }
            ["v1", "campaigns", id, "leads"] => {
                vec![(Method::GET, Route::ListLeads(id.to_string()))]
            }
            ["v1", "leads", id] => match id.split_once(':') {
                None => vec![
                    (Method::GET, Route::GetLead(id.to_string())),
                    (Method::DELETE, Route::DeleteLead(id.to_string())),
                ],
                Some((id, "call")) => vec![(Method::POST, Route::CallLead(id.to_string()))],
                Some((id, "booked")) => vec![(Method::POST, Route::MarkBooked(id.to_string()))],
                Some(_) => return Err(no_route(path)),
            },
            ["v1", "do-not-call"] => vec![
                (Method::POST, Route::AddDoNotCall),
                (Method::GET, Route::ListDoNotCall),
            ],
            ["v1", "usage"] => vec![(Method::GET, Route::ListUsage)],
            ["v1", "leads", id, "appointments"] => {
                vec![(Method::GET, Route::ListAppointments(id.to_string()))]
            }
            ["v1", "business"] => vec![
                (Method::GET, Route::GetBusiness),
                (Method::PUT, Route::PutBusiness),
            ],
            ["v1", "services"] => vec![
                (Method::GET, Route::ListServices),
                (Method::POST, Route::CreateService),
            ],
            ["v1", "services", id] => vec![
                (Method::GET, Route::GetService(id.to_string())),
                (Method::PUT, Route::PutService(id.to_string())),
                (Method::DELETE, Route::DeleteService(id.to_string())),
            ],
            ["v1", "messaging"] => vec![
                (Method::GET, Route::GetMessaging),
                (Method::PUT, Route::PutMessaging),
            ],
            ["v1", "leads", id, "messages"] => {
                vec![(Method::GET, Route::ListLeadMessages(id.to_string()))]
            }
            ["v1", "messages"] => vec![(Method::GET, Route::ListMessages)],
            ["v1", "leads", id, "calls"] => {
                vec![(Method::GET, Route::ListLeadCalls(id.to_string()))]
            }
            ["v1", "leads", id, "calls", n] => {
                vec![(
                    Method::GET,
                    Route::GetLeadCall(id.to_string(), n.to_string()),
                )]
            }
            _ => return Err(no_route(path)),
        };
        let allowed: Vec<String> = route.iter().map(|(m, _)| m.to_string()).collect();
        route
            .into_iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| r)
            .ok_or_else(|| {
                (
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("{path} allows {}", allowed.join(", ")),
                )
            })
    }
}

fn no_route(path: &str) -> (StatusCode, &'static str, String) {
    (
        StatusCode::NOT_FOUND,
        "no_route",
        format!("no route {path}"),
    )
}

/// `POST /v1/campaigns/{id}:start`, whose body may be empty.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    #[serde(default)]
    start_at: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DoNotCallRequest {
    phone: String,
    #[serde(default)]
    reason: Option<String>,
}

impl<S, Q, F, C> Api<S, Q, F, C>
where
    S: TenantStore
        + CampaignStore
        + LeadStore
        + SuppressionStore
        + UsageStore
        + BusinessStore
        + InCallStore
        + MessageStore
        + leadline_core::ports::CallStore
        + Commit,
    Q: DialQueue,
    F: FollowUpScheduler,
    C: Clock,
{
    /// The API's effects: schedules and the dial queue. It sends no messages.
    fn effects(&self) -> EffectPorts<'_, F, Q, Unwired> {
        EffectPorts {
            scheduler: &self.follow_ups,
            dial_queue: &self.queue,
            messages: &Unwired,
        }
    }

    pub fn new(store: S, queue: Q, follow_ups: F, clock: C, admin_key: &str) -> Self {
        Self {
            store,
            queue,
            follow_ups,
            clock,
            admin_key_digest: Sha256::digest(admin_key.as_bytes()).into(),
            accounts: None,
        }
    }

    /// Lets `PUT /v1/messaging` store tenants' own provider accounts.
    pub fn with_accounts(mut self, accounts: crate::accounts::SecretAccounts) -> Self {
        self.accounts = Some(std::sync::Arc::new(accounts));
        self
    }

    pub async fn handle(&self, req: Request) -> HttpResponse {
        let route = match Route::parse(req.method(), req.uri().path()) {
            Ok(route) => route,
            Err((status, code, message)) => return error(status, code, &message),
        };
        let result = match route {
            Route::CreateTenant => self.create_tenant(&req).await,
            route => self.tenant_route(route, &req).await,
        };
        result.unwrap_or_else(|e| from_error(&e))
    }

    /// A route of a tenant's own: the API key decides whose.
    async fn tenant_route(&self, route: Route, req: &Request) -> Result<HttpResponse, Error> {
        let tenant = &self.authenticate(req).await?;
        let now = self.clock.now();
        match route {
            Route::CreateCampaign => {
                let new: NewCampaign = parse_json(req)?;
                let campaign =
                    intake::create_campaign(&self.store, tenant, new, random(), now).await?;
                Ok(json(StatusCode::CREATED, &campaign))
            }
            Route::ListCampaigns => {
                let page = self
                    .store
                    .campaigns(&tenant.id, &page_request(req)?)
                    .await?;
                Ok(page_json(page))
            }
            Route::GetCampaign(id) => {
                let campaign = self.store.campaign(&tenant.id, &campaign_id(&id)?).await?;
                Ok(json(
                    StatusCode::OK,
                    &campaign.ok_or(Error::NotFound("campaign"))?,
                ))
            }
            Route::ImportLeads(id) => {
                if is_multipart(req) {
                    return Err(Error::Malformed(
                        "send the CSV itself as the request body (Content-Type: text/csv), not as a form upload".into(),
                    ));
                }
                let report = intake::import_leads(
                    &self.store,
                    tenant,
                    &campaign_id(&id)?,
                    body_bytes(req),
                    now,
                )
                .await?;
                Ok(json(StatusCode::OK, &report))
            }
            Route::ListLeads(id) => {
                let campaign = campaign_id(&id)?;
                // The tenant's inbound callers are listed as a campaign's
                // leads are, under an id no campaign item has.
                if !campaign.is_inbound() {
                    self.store
                        .campaign(&tenant.id, &campaign)
                        .await?
                        .ok_or(Error::NotFound("campaign"))?;
                }
                let status = match query(req, "status") {
                    None => None,
                    Some(raw) => Some(LeadStatus::parse(&raw).ok_or_else(|| {
                        Error::Invalid(leadline_core::Invalid::new(
                            "status",
                            format!("{raw:?} is not a lead status"),
                        ))
                    })?),
                };
                let page = self
                    .store
                    .leads(&tenant.id, &campaign, status, &page_request(req)?)
                    .await?;
                Ok(page_json(page))
            }
            Route::GetLead(id) => {
                let id = LeadId::parse(&id).map_err(|_| Error::NotFound("lead"))?;
                let lead = self
                    .store
                    .lead(&tenant.id, &id)
                    .await?
                    .ok_or(Error::NotFound("lead"))?;
                Ok(json(StatusCode::OK, &lead))
            }
            Route::StartCampaign(id) => {
                let request: StartRequest = if body_bytes(req).is_empty() {
                    StartRequest::default()
                } else {
                    parse_json(req)?
                };
                let start = CampaignMove::Start {
                    start_at: request.start_at,
                };
                let campaign = outbound::move_campaign_of(
                    &self.store,
                    &self.effects(),
                    tenant,
                    &campaign_id(&id)?,
                    start,
                    now,
                )
                .await?;
                tracing::info!(tenant = %tenant.id, campaign = %campaign.id, "campaign started");
                Ok(json(StatusCode::ACCEPTED, &campaign))
            }
            Route::PauseCampaign(id) => {
                let campaign = outbound::move_campaign_of(
                    &self.store,
                    &self.effects(),
                    tenant,
                    &campaign_id(&id)?,
                    CampaignMove::Pause,
                    now,
                )
                .await?;
                Ok(json(StatusCode::OK, &campaign))
            }
            Route::ResumeCampaign(id) => {
                let campaign = outbound::move_campaign_of(
                    &self.store,
                    &self.effects(),
                    tenant,
                    &campaign_id(&id)?,
                    CampaignMove::Resume,
                    now,
                )
                .await?;
                Ok(json(StatusCode::ACCEPTED, &campaign))
            }
            Route::CallLead(id) => {
                let id = LeadId::parse(&id).map_err(|_| Error::NotFound("lead"))?;
                let lead = outbound::lead_action(
                    &self.store,
                    &self.effects(),
                    tenant,
                    &id,
                    LeadAction::Call,
                    now,
                )
                .await?;
                Ok(json(StatusCode::ACCEPTED, &lead))
            }
            Route::MarkBooked(id) => {
                let id = LeadId::parse(&id).map_err(|_| Error::NotFound("lead"))?;
                let lead = outbound::lead_action(
                    &self.store,
                    &self.effects(),
                    tenant,
                    &id,
                    LeadAction::MarkBooked,
                    now,
                )
                .await?;
                Ok(json(StatusCode::OK, &lead))
            }
            Route::DeleteLead(id) => {
                let id = LeadId::parse(&id).map_err(|_| Error::NotFound("lead"))?;
                let lead = outbound::lead_action(
                    &self.store,
                    &self.effects(),
                    tenant,
                    &id,
                    LeadAction::Delete,
                    now,
                )
                .await?;
                tracing::info!(tenant = %tenant.id, lead = %lead.id, "lead deleted");
                Ok(json(StatusCode::OK, &lead))
            }
            Route::AddDoNotCall => {
                let request: DoNotCallRequest = parse_json(req)?;
                let entry = outbound::add_to_do_not_call(
                    &self.store,
                    &self.effects(),
                    tenant,
                    &request.phone,
                    request.reason,
                    now,
                )
                .await?;
                Ok(json(StatusCode::CREATED, &suppression_json(&entry)))
            }
            Route::ListDoNotCall => {
                let page = self
                    .store
                    .suppressions(&tenant.id, &page_request(req)?)
                    .await?;
                Ok(json(
                    StatusCode::OK,
                    &json!({
                        "items": page.items.iter().map(suppression_json).collect::<Vec<_>>(),
                        "next_cursor": page.next_cursor,
                    }),
                ))
            }
            Route::ListUsage => {
                let page = self.store.usage(&tenant.id, &page_request(req)?).await?;
                Ok(page_json(page))
            }
            Route::ListAppointments(id) => {
                let id = LeadId::parse(&id).map_err(|_| Error::NotFound("lead"))?;
                self.store
                    .lead(&tenant.id, &id)
                    .await?
                    .ok_or(Error::NotFound("lead"))?;
                let appointments = self.store.appointments_of(&tenant.id, &id).await?;
                Ok(json(StatusCode::OK, &json!({ "items": appointments })))
            }
            Route::GetBusiness => {
                let business = self.business(&tenant.id).await?;
                Ok(json(StatusCode::OK, &business_json(&business)))
            }
            Route::PutBusiness => {
                let settings: BusinessSettings = parse_json(req)?;
                let current = self.store.business(&tenant.id).await?;
                let business = settings.apply(&tenant.id, current.clone(), now)?;
                self.store
                    .save_business(&business, current.as_ref())
                    .await?;
                let status = if current.is_some() {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                Ok(json(status, &business_json(&business)))
            }
            Route::ListServices => {
                let business = self.business(&tenant.id).await?;
                Ok(json(StatusCode::OK, &json!({ "items": business.services })))
            }
            Route::GetService(id) => {
                let business = self.business(&tenant.id).await?;
                let service = ServiceId::parse(&id)
                    .ok()
                    .and_then(|id| business.service(&id).cloned())
                    .ok_or(Error::NotFound("service"))?;
                Ok(json(StatusCode::OK, &service))
            }
            Route::CreateService => {
                let service = parse_json::<ServiceSettings>(req)?.into_service(None)?;
                let mut business = self.business(&tenant.id).await?;
                if business.service(&service.id).is_some() {
                    return Err(Error::Conflict(format!(
                        "a service {} exists; PUT /v1/services/{} replaces it",
                        service.id, service.id
                    )));
                }
                self.save_service(&mut business, service.clone(), now)
                    .await?;
                Ok(json(StatusCode::CREATED, &service))
            }
            Route::PutService(id) => {
                let service = parse_json::<ServiceSettings>(req)?.into_service(Some(&id))?;
                let mut business = self.business(&tenant.id).await?;
                self.save_service(&mut business, service.clone(), now)
                    .await?;
                Ok(json(StatusCode::OK, &service))
            }
            Route::DeleteService(id) => {
                let mut business = self.business(&tenant.id).await?;
                let previous = business.clone();
                let id = ServiceId::parse(&id).map_err(|_| Error::NotFound("service"))?;
                if !business.remove_service(&id) {
                    return Err(Error::NotFound("service"));
                }
                business.updated_at = now;
                self.store.save_business(&business, Some(&previous)).await?;
                Ok(json(StatusCode::OK, &json!({ "deleted": id })))
            }
            Route::GetMessaging => {
                let settings = self
                    .store
                    .messaging_settings(&tenant.id)
                    .await?
                    .unwrap_or_else(|| MessagingSettings::new(tenant.id.clone()));
                Ok(json(StatusCode::OK, &settings))
            }
            Route::PutMessaging => {
                let request: MessagingRequest = parse_json(req)?;
                let update: MessagingUpdate =
                    serde_json::from_value(serde_json::Value::Object(request.settings.0))
                        .map_err(|e| Error::Malformed(e.to_string()))?;
                let mut own = None;
                if let Some(accounts) = &request.accounts {
                    let Some(store) = &self.accounts else {
                        return Err(Error::Unavailable(
                            "tenants' own accounts cannot be stored here".into(),
                        ));
                    };
                    own = Some(OwnAccounts {
                        twilio: accounts.twilio().is_some(),
                        sendgrid: accounts.sendgrid_api_key().is_some(),
                        whatsapp: accounts.whatsapp_access_token().is_some(),
                    });
                    store.store(&tenant.id, accounts).await?;
                }
                let current = self.store.messaging_settings(&tenant.id).await?;
                let settings = update.apply(current.clone(), &tenant.id, own, now)?;
                self.store
                    .save_messaging_settings(&settings, current.as_ref())
                    .await?;
                let saved = MessagingSettings {
                    version: settings.version + 1,
                    ..settings
                };
                Ok(json(StatusCode::OK, &saved))
            }
            Route::ListLeadMessages(id) => {
                let id = LeadId::parse(&id).map_err(|_| Error::NotFound("lead"))?;
                let messages = self.store.messages_of(&tenant.id, &id).await?;
                if messages.is_empty() {
                    // Another tenant's lead, or none: not found; a lead of
                    // this tenant with no messages: an empty list.
                    self.store
                        .lead(&tenant.id, &id)
                        .await?
                        .ok_or(Error::NotFound("lead"))?;
                }
                Ok(json(StatusCode::OK, &json!({ "items": messages })))
            }
            Route::ListLeadCalls(id) => {
                let id = LeadId::parse(&id).map_err(|_| Error::NotFound("lead"))?;
                let lead = self
                    .store
                    .lead(&tenant.id, &id)
                    .await?
                    .ok_or(Error::NotFound("lead"))?;
                let mut calls = Vec::new();
                for attempt in 1..=lead.attempts {
                    if let Some(call) = self.call(tenant, &id, attempt).await? {
                        calls.push(call);
                    }
                }
                Ok(json(StatusCode::OK, &json!({ "items": calls })))
            }
            Route::GetLeadCall(id, n) => {
                let id = LeadId::parse(&id).map_err(|_| Error::NotFound("lead"))?;
                let n: u32 = n.parse().map_err(|_| Error::NotFound("call"))?;
                let call = self
                    .call(tenant, &id, n)
                    .await?
                    .ok_or(Error::NotFound("call"))?;
                Ok(json(StatusCode::OK, &call))
            }
            Route::ListMessages => {
                let raw = query(req, "status")
                    .ok_or_else(|| Error::Malformed("GET /v1/messages needs ?status=".into()))?;
                let status: MessageStatus = serde_json::from_value(serde_json::Value::String(
                    raw.clone(),
                ))
                .map_err(|_| Error::Malformed(format!("{raw:?} is not a message status")))?;
                let page = self
                    .store
                    .messages_with_status(&tenant.id, status, &page_request(req)?)
                    .await?;
                Ok(page_json(page))
            }
            Route::CreateTenant => unreachable!("tenant creation is routed before authentication"),
        }
    }

    /// Attempt `n` of a lead: outcome, transcript, recording, summary,
    /// structured answers (what the team notification links to).
    async fn call(
        &self,
        tenant: &Tenant,
        lead: &LeadId,
        n: u32,
    ) -> Result<Option<leadline_core::calling::attempt::CallAttempt>, Error> {
        if n == 0 {
            return Ok(None);
        }
        let call = leadline_core::calling::call::CallRef {
            tenant: tenant.id.clone(),
            lead: lead.clone(),
            attempt: n,
        };
        Ok(self.store.call_context(&call).await?.attempt)
    }

    /// The tenant's business; services need one to belong to.
    async fn business(&self, tenant: &TenantId) -> Result<Business, Error> {
        self.store
            .business(tenant)
            .await?
            .ok_or(Error::NotFound("business (PUT /v1/business first)"))
    }

    async fn save_service(
        &self,
        business: &mut Business,
        service: Service,
        now: Timestamp,
    ) -> Result<(), Error> {
        let previous = business.clone();
        business.put_service(service)?;
        business.updated_at = now;
        self.store.save_business(business, Some(&previous)).await
    }

    async fn create_tenant(&self, req: &Request) -> Result<HttpResponse, Error> {
        let presented = bearer(req).unwrap_or_default();
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if presented.is_empty() || !bool::from(digest.ct_eq(&self.admin_key_digest)) {
            return Err(Error::Unauthorized(
                "creating a tenant needs the admin API key",
            ));
        }
        let new: NewTenant = parse_json(req)?;
        let (tenant, key) =
            intake::create_tenant(&self.store, new, random(), self.clock.now()).await?;
        tracing::info!(tenant = %tenant.id, "tenant created");
        Ok(json(
            StatusCode::CREATED,
            &json!({ "tenant": tenant, "api_key": key.reveal() }),
        ))
    }

    async fn authenticate(&self, req: &Request) -> Result<Tenant, Error> {
        let presented = bearer(req).ok_or(Error::Unauthorized(
            "send your API key as Authorization: Bearer <key>",
        ))?;
        intake::authenticate(&self.store, presented)
            .await?
            .ok_or(Error::Unauthorized("the API key is not valid"))
    }
}

/// A page of a listing: `{"items": [...], "next_cursor": "..." | null}`.
/// A do-not-call entry: its `address`, and as `phone` or `email` by kind
/// (`phone` is what the list answered before it held email addresses).
fn suppression_json(entry: &leadline_core::calling::suppression::Suppression) -> serde_json::Value {
    let mut value = serde_json::to_value(entry).unwrap_or_default();
    let kind = match entry.address {
        leadline_core::messaging::message::Recipient::Phone(_) => "phone",
        leadline_core::messaging::message::Recipient::Email(_) => "email",
    };
    value[kind] = json!(entry.address.expose());
    value
}

fn page_json<T: serde::Serialize>(page: Page<T>) -> HttpResponse {
    json(
        StatusCode::OK,
        &json!({ "items": page.items, "next_cursor": page.next_cursor }),
    )
}

/// A campaign id from the path; one that cannot exist is simply not found.
fn campaign_id(raw: &str) -> Result<CampaignId, Error> {
    CampaignId::parse(raw).map_err(|_| Error::NotFound("campaign"))
}

/// A business as the API answers it: the Cal.com key is never shown.
fn business_json(business: &Business) -> serde_json::Value {
    let mut value = serde_json::to_value(business).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("calendar");
        object.insert(
            "calendar_connected".into(),
            business.calendar.is_some().into(),
        );
    }
    value
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

fn page_request(req: &Request) -> Result<PageRequest, Error> {
    let limit = match query(req, "limit") {
        None => PageRequest::DEFAULT_LIMIT,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| (1..=PageRequest::MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Error::Invalid(leadline_core::Invalid::new(
                    "limit",
                    format!("must be 1-{}", PageRequest::MAX_LIMIT),
                ))
            })?,
    };
    Ok(PageRequest {
        limit,
        cursor: query(req, "cursor"),
    })
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/"))
}

/// Random bytes from the operating system, for keys and ids.
fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system has no randomness");
    bytes
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;
    use lambda_http::http::Request as HttpRequest;
    use leadline_core::memory::FixedClock;
    use leadline_core::memory::{MemoryQueue, MemoryScheduler, MemoryStore};
    use serde_json::{Value, json};

    use super::*;

    const ADMIN: &str = "admin-key-for-tests-0123456789";

    type TestApi = Api<MemoryStore, MemoryQueue, MemoryScheduler, FixedClock>;

    fn api() -> TestApi {
        Api::new(
            MemoryStore::default(),
            MemoryQueue::default(),
            MemoryScheduler::default(),
            FixedClock(jiff::Timestamp::UNIX_EPOCH),
            ADMIN,
        )
    }

    fn request(method: &str, path: &str, key: Option<&str>, body: &str) -> Request {
        let mut builder = HttpRequest::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header("authorization", format!("Bearer {key}"));
        }
        builder.body(Body::from(body)).unwrap()
    }

    async fn send(api: &TestApi, req: Request) -> (u16, Value) {
        let response = api.handle(req).await;
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(response.body()).unwrap_or(Value::Null),
        )
    }

    async fn tenant(api: &TestApi) -> String {
        let body =
            json!({"name": "Acme", "slug": "acme", "timezone": "UTC", "default_region": "GB"})
                .to_string();
        let (status, created) = send(api, request("POST", "/v1/tenants", Some(ADMIN), &body)).await;
        assert_eq!(status, 201, "{created}");
        created["api_key"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn unknown_routes_are_404_and_wrong_methods_405() {
        let api = api();
        assert_eq!(
            send(&api, request("GET", "/v2/things", None, "")).await.0,
            404
        );
        let (status, body) = send(&api, request("DELETE", "/v1/campaigns", None, "")).await;
        assert_eq!(status, 405);
        assert_eq!(body["error"]["message"], "/v1/campaigns allows POST, GET");
    }

    #[tokio::test]
    async fn tenant_routes_need_a_valid_key_and_tenant_creation_the_admin_key() {
        let api = api();
        assert_eq!(
            send(&api, request("GET", "/v1/campaigns", None, ""))
                .await
                .0,
            401
        );
        assert_eq!(
            send(
                &api,
                request("GET", "/v1/campaigns", Some("ll_acme_nope"), "")
            )
            .await
            .0,
            401
        );
        let body =
            json!({"name": "Acme", "slug": "acme", "timezone": "UTC", "default_region": "GB"})
                .to_string();
        assert_eq!(
            send(
                &api,
                request("POST", "/v1/tenants", Some("not-the-admin"), &body)
            )
            .await
            .0,
            401
        );
        let key = tenant(&api).await;
        assert_eq!(
            send(&api, request("GET", "/v1/campaigns", Some(ADMIN), ""))
                .await
                .0,
            401,
            "the admin key is no tenant key"
        );
        assert_eq!(
            send(&api, request("GET", "/v1/campaigns", Some(&key), ""))
                .await
                .0,
            200
        );
    }

    #[tokio::test]
    async fn a_tenants_inbound_callers_are_listed_under_the_inbound_campaign_id() {
        use leadline_core::calling::lead::Lead;
        let api = api();
        let key = tenant(&api).await;
        let acme = leadline_core::TenantId::parse("acme").unwrap();
        let caller = leadline_core::Phone::parse("+447400123456", None).unwrap();
        let lead = Lead::inbound(&acme, &caller, jiff::Timestamp::UNIX_EPOCH);
        api.store
            .insert_leads(std::slice::from_ref(&lead))
            .await
            .unwrap();
        let path = format!("/v1/campaigns/{}/leads", CampaignId::inbound());
        let (status, page) = send(&api, request("GET", &path, Some(&key), "")).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["items"][0]["id"], lead.id.as_str());
        assert_eq!(page["items"][0]["source"], "inbound");
        // It is no campaign: nothing can be imported into it or started.
        let import = format!("/v1/campaigns/{}/leads:import", CampaignId::inbound());
        let start = format!("/v1/campaigns/{}:start", CampaignId::inbound());
        for (path, body) in [(&import, "number\n+447400123457\n"), (&start, "")] {
            let (status, _) = send(&api, request("POST", path, Some(&key), body)).await;
            assert_eq!(status, 404, "POST {path}");
        }
    }

    #[tokio::test]
    async fn each_kind_of_bad_request_gets_its_status() {
        let api = api();
        let key = tenant(&api).await;
        let cases = [
            ("POST", "/v1/campaigns", "", 400),
            ("POST", "/v1/campaigns", "{not json", 400),
            ("POST", "/v1/campaigns", r#"{"name": ""}"#, 422),
            (
                "POST",
                "/v1/campaigns",
                r#"{"name": "x", "surprise": 1}"#,
                400,
            ),
            ("GET", "/v1/campaigns/cmp_nope", "", 404),
            ("GET", "/v1/campaigns/not-an-id", "", 404),
            ("GET", "/v1/leads/ld_aaaaaaaaaaaaaaaaaaaaaaaa", "", 404),
            (
                "POST",
                "/v1/campaigns/cmp_aaaaaaaaaaaaaaaaaaaaaaaa/leads:import",
                "number\n+442079460958\n",
                404,
            ),
            (
                "POST",
                "/v1/campaigns/cmp_aaaaaaaaaaaaaaaaaaaaaaaa:start",
                "",
                404,
            ),
            (
                "POST",
                "/v1/campaigns/cmp_aaaaaaaaaaaaaaaaaaaaaaaa:frobnicate",
                "",
                404,
            ),
            (
                "GET",
                "/v1/campaigns/cmp_aaaaaaaaaaaaaaaaaaaaaaaa:pause",
                "",
                405,
            ),
            (
                "POST",
                "/v1/leads/ld_aaaaaaaaaaaaaaaaaaaaaaaa:call",
                "",
                404,
            ),
            ("POST", "/v1/do-not-call", "{}", 400),
            ("POST", "/v1/do-not-call", r#"{"phone": "12"}"#, 422),
        ];
        for (method, path, body, status) in cases {
            let (got, answer) = send(&api, request(method, path, Some(&key), body)).await;
            assert_eq!(got, status, "{method} {path} {body:?}: {answer}");
            assert!(answer["error"]["message"].is_string(), "{answer}");
        }
    }

    #[tokio::test]
    async fn a_campaign_starts_once_with_a_readable_body_and_pauses_only_while_running() {
        let api = api();
        let key = tenant(&api).await;
        let (_, campaign) = send(
            &api,
            request("POST", "/v1/campaigns", Some(&key), r#"{"name":"c"}"#),
        )
        .await;
        let id = campaign["id"].as_str().unwrap();
        let at = |verb: &str| format!("/v1/campaigns/{id}:{verb}");
        let cases = [
            ("pause", "", 409),
            ("start", r#"{"when": "now"}"#, 400),
            ("start", r#"{"start_at": "soon"}"#, 400),
            ("start", r#"{"start_at": "1969-01-01T00:00:00Z"}"#, 422),
            ("start", "", 202),
            ("start", "", 409),
            ("resume", "", 409),
            ("pause", "", 200),
            ("resume", "", 202),
        ];
        for (verb, body, status) in cases {
            let (got, answer) = send(&api, request("POST", &at(verb), Some(&key), body)).await;
            assert_eq!(got, status, "{verb} {body}: {answer}");
        }
    }

    #[tokio::test]
    async fn an_import_reads_the_bytes_as_a_spreadsheet_saved_them_and_says_how() {
        let api = api();
        let key = tenant(&api).await;
        let (_, campaign) = send(
            &api,
            request("POST", "/v1/campaigns", Some(&key), r#"{"name":"c"}"#),
        )
        .await;
        let path = format!(
            "/v1/campaigns/{}/leads:import",
            campaign["id"].as_str().unwrap()
        );
        // Windows-1252 with semicolons and tel: numbers, as a binary body.
        let csv =
            b"Phone;Name\r\ntel:+1-415-555-2671;M\xfcller\r\n\"tel:+44-20-7946-0958;ext=2\";X\r\n";
        let mut req = request("POST", &path, Some(&key), "");
        *req.body_mut() = Body::Binary(csv.to_vec());
        req.headers_mut()
            .insert("content-type", "text/csv".parse().unwrap());
        let (status, report) = send(&api, req).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(
            (
                &report["encoding"],
                &report["delimiter"],
                &report["imported"],
                &report["rejected"]
            ),
            (
                &json!("windows-1252"),
                &json!("semicolon"),
                &json!(1),
                &json!(1)
            ),
            "{report}"
        );
        let leads_path = path.replace("leads:import", "leads");
        let (_, leads) = send(&api, request("GET", &leads_path, Some(&key), "")).await;
        assert_eq!(
            (&leads["items"][0]["phone"], &leads["items"][0]["name"]),
            (&json!("+14155552671"), &json!("Müller"))
        );
    }

    #[tokio::test]
    async fn a_form_upload_is_refused_with_how_to_send_the_file() {
        let api = api();
        let key = tenant(&api).await;
        let (_, campaign) = send(
            &api,
            request("POST", "/v1/campaigns", Some(&key), r#"{"name":"c"}"#),
        )
        .await;
        let path = format!(
            "/v1/campaigns/{}/leads:import",
            campaign["id"].as_str().unwrap()
        );
        let mut req = request("POST", &path, Some(&key), "--x--");
        req.headers_mut().insert(
            "content-type",
            "multipart/form-data; boundary=x".parse().unwrap(),
        );
        let (status, body) = send(&api, req).await;
        assert_eq!(status, 400);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("text/csv")
        );
    }
}
