//! Starting and stopping the simulator's HTTP server.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::info;

use crate::api::{create_call, get_call};
use crate::config::SimConfig;
use crate::retell::Retell;
use crate::state::SimControl;
use crate::vapi::Vapi;
use crate::{calcom, control, messaging, sendgrid, twilio, whatsapp};

/// The simulated Retell, Vapi, Cal.com, Twilio, SendGrid and WhatsApp, in one HTTP server.
pub struct Sim;

impl Sim {
    /// Binds `config.bind` and serves until the handle is dropped.
    pub async fn start(config: SimConfig) -> io::Result<SimHandle> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{}", reachable(addr));
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(io::Error::other)?;
        let control = SimControl::new(config, url, http);
        let app = router(control.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        info!(url = %control.url(), "simulated Retell, Vapi, Cal.com, Twilio, SendGrid and WhatsApp listening");
        Ok(SimHandle {
            control,
            addr,
            server,
        })
    }
}

/// Where a client reaches an address the server bound (0.0.0.0 → 127.0.0.1).
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

fn router(control: SimControl) -> Router {
    Router::new()
        .route("/v2/create-phone-call", post(create_call::<Retell>))
        .route("/v2/get-call/{call_id}", get(get_call::<Retell>))
        .route("/call", post(create_call::<Vapi>))
        .route("/call/{id}", get(get_call::<Vapi>))
        .merge(calcom::routes())
        .merge(twilio::routes())
        .merge(sendgrid::routes())
        .merge(whatsapp::routes())
        .merge(control::routes())
        .merge(messaging::control::routes())
        .merge(crate::inbound::routes())
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": "no such endpoint"})),
            )
                .into_response()
        })
        .with_state(control)
}

/// A running simulator. Dropping it stops the server and the calls in progress.
#[must_use = "the simulator stops when its handle is dropped"]
pub struct SimHandle {
    control: SimControl,
    addr: SocketAddr,
    server: JoinHandle<io::Result<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:<port>`: the base URL of the provider APIs and of `/_sim/`.
    pub fn url(&self) -> &str {
        self.control.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Scripts, faults, records and statistics, in process.
    pub fn control(&self) -> &SimControl {
        &self.control
    }

    /// Serves until the server fails (it otherwise runs forever).
    pub async fn wait(&mut self) -> io::Result<()> {
        match (&mut self.server).await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.server.abort();
        self.control.abort_tasks();
    }
}
