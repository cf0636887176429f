//! The HTTP server: our own accept loop (instead of `axum::serve`) so that fault injection
//! can close a connection without answering.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::faults::RateLimit;
use crate::state::{AppState, Store};
use crate::{EmulatorConfig, EmulatorError, Shared, faults};

/// Per-connection context, put into every request's extensions.
#[derive(Clone)]
pub(crate) struct ConnCtx {
    pub remote: SocketAddr,
    /// Notified to close the connection at once, without an answer.
    pub kill: Arc<Notify>,
}

pub(crate) struct ServerHandle {
    stop: watch::Sender<bool>,
    /// Stops the state writer; sent only after the last request is done, so that the
    /// writer's final flush includes every answered write.
    stop_writer: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    app: Shared,
}

/// Dropped without `shutdown`: stop accepting; the writer still flushes in the background
/// for as long as the runtime runs.
impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = self.stop_writer.send(true);
    }
}

impl ServerHandle {
    pub(crate) async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        for task in std::mem::take(&mut *self.app.tasks.lock().unwrap_or_else(|p| p.into_inner())) {
            task.abort();
        }
        let _ = self.stop_writer.send(true);
        if let Some(writer) = self.writer.take() {
            let _ = writer.await;
        }
    }
}

pub(crate) async fn start(
    config: EmulatorConfig,
    listen: SocketAddr,
) -> Result<(SocketAddr, ServerHandle), EmulatorError> {
    config
        .faults
        .validate()
        .map_err(EmulatorError::InvalidConfig)?;
    if config.cloudbees_requests_per_second == Some(0) {
        return Err(EmulatorError::InvalidConfig(
            "cloudbees_requests_per_second must be at least 1".to_owned(),
        ));
    }
    if config.unify_requests_per_second == Some(0) {
        return Err(EmulatorError::InvalidConfig(
            "unify_requests_per_second must be at least 1".to_owned(),
        ));
    }
    let store = Store::open(config.state_dir.as_deref(), config.sync_writes)?;
    let app: Shared = Arc::new(AppState::new(&config, store));
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: listen,
            source,
        })?;
    let (stop, stop_rx) = watch::channel(false);
    let (stop_writer, stop_writer_rx) = watch::channel(false);
    let writer = app.store.spawn_writer(stop_writer_rx);
    crate::unify::ensure_defaults(&app).await;
    if config.preload_examples {
        crate::assumptions::preload_examples(&app).await;
        crate::unify::preload_examples(&app).await;
    }
    // Launches interrupted by a restart finish now.
    crate::confidence::resume_transitions(&app);
    let router = router(app.clone());
    let accept = tokio::spawn(accept_loop(listener, router, stop_rx));
    tracing::info!(%addr, "emulator listening");
    Ok((
        addr,
        ServerHandle {
            stop,
            stop_writer,
            accept: Some(accept),
            writer,
            app,
        },
    ))
}

fn router(app: Shared) -> Router {
    let cloudbees = crate::cloudbees::routes(app.cloudbees_seed_routes_only)
        .route_layer(from_fn_with_state(app.clone(), faults::require_bearer))
        .route_layer(from_fn_with_state(
            (app.clone(), RateLimit::CloudBees),
            faults::rate_limit,
        ));
    let confidence = crate::confidence::routes()
        .route_layer(from_fn_with_state(app.clone(), faults::require_bearer));
    let segments = crate::confidence::segment_routes()
        .route_layer(from_fn_with_state(app.clone(), faults::require_bearer))
        .route_layer(from_fn_with_state(
            (app.clone(), RateLimit::ConfidenceFlags),
            faults::rate_limit,
        ));
    let unify = crate::unify::routes()
        .route_layer(from_fn_with_state(app.clone(), faults::require_bearer))
        .route_layer(from_fn_with_state(
            (app.clone(), RateLimit::Unify),
            faults::rate_limit,
        ));
    let api = cloudbees
        .merge(confidence)
        .merge(segments)
        .merge(unify)
        .merge(crate::confidence::token_routes())
        .route_layer(from_fn_with_state(app.clone(), faults::faults_and_counters));
    api.merge(crate::control::routes())
        .merge(crate::cloudbees::control_routes())
        .merge(crate::unify::control_routes())
        .fallback(crate::control::unknown_route)
        .method_not_allowed_fallback(crate::control::wrong_method)
        .with_state(app)
}

async fn accept_loop(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Usually too many open files; back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let router = router.clone();
        let stop = stop.clone();
        connections.spawn(serve_connection(stream, remote, router, stop));
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    // Give in-flight requests a moment to finish, then close what is left.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let kill = Arc::new(Notify::new());
    let ctx = ConnCtx {
        remote,
        kill: kill.clone(),
    };
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ctx.clone());
        router.clone().oneshot(req.map(axum::body::Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        // Dropping the connection closes the socket without an answer.
        _ = kill.notified() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
