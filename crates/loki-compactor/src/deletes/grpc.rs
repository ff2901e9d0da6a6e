//! Loki's `grpc.Compactor` service (spec §8.9): `GetDeleteRequests` and
//! `GetCacheGenNumbers`, wire-compatible with Loki's queriers (message field numbers of
//! `pkg/compactor/client/grpc/grpc.proto` and `deletionproto/types.proto`, mirrored in
//! `proto/compactor.proto`). The messages are prost derives and the service is routed by
//! hand, so builds need no `protoc`.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use loki_config::DeletionMode;
use tonic::codegen::{http, Body, BoxFuture, StdError};
use tonic::{Request, Response, Status};

use super::api::DeleteApi;
use super::model::StoredRequest;

/// `google.protobuf.Timestamp` (same wire format).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// Go's zero `time.Time` as a protobuf timestamp: "not set" for Loki's client.
pub const GO_ZERO_SECONDS: i64 = -62_135_596_800;

impl Timestamp {
    /// Unix ms, or None for an unset time (absent, all-zero, or Go's zero time).
    pub fn millis(t: Option<&Timestamp>) -> Option<i64> {
        match t {
            None => None,
            Some(t) if t.seconds == GO_ZERO_SECONDS && t.nanos == 0 => None,
            Some(t) if t.seconds == 0 && t.nanos == 0 => None,
            Some(t) => Some(t.seconds * 1000 + i64::from(t.nanos) / 1_000_000),
        }
    }
}

/// `grpc.GetDeleteRequestsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetDeleteRequestsRequest {
    /// `forQuerytimeFiltering`.
    #[prost(bool, tag = "1")]
    pub for_querytime_filtering: bool,
    /// `start_time` (overlap filter, with `end_time`).
    #[prost(message, optional, tag = "2")]
    pub start_time: Option<Timestamp>,
    /// `end_time`.
    #[prost(message, optional, tag = "3")]
    pub end_time: Option<Timestamp>,
}

/// `deletionproto.DeleteRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DeleteRequest {
    /// `requestID`.
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// `startTime`, ms.
    #[prost(int64, tag = "2")]
    pub start_time: i64,
    /// `endTime`, ms.
    #[prost(int64, tag = "3")]
    pub end_time: i64,
    /// `query`.
    #[prost(string, tag = "4")]
    pub query: String,
    /// `status`.
    #[prost(string, tag = "5")]
    pub status: String,
    /// `createdAt`, ms.
    #[prost(int64, tag = "6")]
    pub created_at: i64,
    /// `userID` (filled over gRPC).
    #[prost(string, tag = "7")]
    pub user_id: String,
    /// `sequenceNum` (always 0 for merged requests).
    #[prost(int64, tag = "8")]
    pub sequence_num: i64,
}

/// `grpc.GetDeleteRequestsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetDeleteRequestsResponse {
    /// `deleteRequests`.
    #[prost(message, repeated, tag = "1")]
    pub delete_requests: Vec<DeleteRequest>,
}

/// `grpc.GetCacheGenNumbersRequest` (empty).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct GetCacheGenNumbersRequest {}

/// `grpc.GetCacheGenNumbersResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct GetCacheGenNumbersResponse {
    /// `resultsCacheGen`.
    #[prost(string, tag = "1")]
    pub results_cache_gen: String,
}

/// Full method names.
pub const GET_DELETE_REQUESTS: &str = "/grpc.Compactor/GetDeleteRequests";
/// Full method names.
pub const GET_CACHE_GEN_NUMBERS: &str = "/grpc.Compactor/GetCacheGenNumbers";

/// The `grpc.Compactor` service over the delete API's store and settings.
#[derive(Debug, Clone)]
pub struct CompactorService {
    api: Arc<DeleteApi>,
}

impl CompactorService {
    /// Serves `api`'s store.
    pub fn new(api: Arc<DeleteApi>) -> Self {
        CompactorService { api }
    }

    fn tenant<T>(&self, req: &Request<T>) -> Result<String, Status> {
        // Loki answers every failure with code Unknown and the Go error text.
        let org = req
            .metadata()
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok());
        let cfg = self.api.config();
        let tenant = if cfg.auth_enabled {
            match org.map(str::trim).filter(|s| !s.is_empty()) {
                None => return Err(Status::unknown("no org id")),
                Some(o) if o.contains('|') => {
                    return Err(Status::unknown("multiple org IDs present"))
                }
                Some(o) => o.to_owned(),
            }
        } else {
            cfg.no_auth_tenant.clone()
        };
        if self.api.mode(&tenant) == DeletionMode::Disabled {
            return Err(Status::unknown("deletion is not available for this tenant"));
        }
        Ok(tenant)
    }

    /// `GetDeleteRequests`.
    pub async fn get_delete_requests(
        &self,
        req: Request<GetDeleteRequestsRequest>,
    ) -> Result<Response<GetDeleteRequestsResponse>, Status> {
        let tenant = self.tenant(&req)?;
        let m = req.into_inner();
        let mut v = self
            .api
            .store()
            .list(&tenant, m.for_querytime_filtering)
            .await
            .map_err(|e| Status::unknown(e.to_string()))?;
        if let (Some(s), Some(e)) = (
            Timestamp::millis(m.start_time.as_ref()),
            Timestamp::millis(m.end_time.as_ref()),
        ) {
            v.retain(|r| r.range.start_ms <= e && r.range.end_ms >= s);
        }
        Ok(Response::new(GetDeleteRequestsResponse {
            delete_requests: v.iter().map(to_proto).collect(),
        }))
    }

    /// `GetCacheGenNumbers`.
    pub async fn get_cache_gen_numbers(
        &self,
        req: Request<GetCacheGenNumbersRequest>,
    ) -> Result<Response<GetCacheGenNumbersResponse>, Status> {
        let tenant = self.tenant(&req)?;
        let g = self
            .api
            .store()
            .cache_gen(&tenant)
            .await
            .map_err(|e| Status::unknown(e.to_string()))?;
        Ok(Response::new(GetCacheGenNumbersResponse {
            results_cache_gen: g,
        }))
    }
}

fn to_proto(r: &StoredRequest) -> DeleteRequest {
    DeleteRequest {
        request_id: r.id.clone(),
        start_time: r.range.start_ms,
        end_time: r.range.end_ms,
        query: r.query.clone(),
        status: r.status(),
        created_at: r.created_ms,
        user_id: r.tenant.clone(),
        sequence_num: 0,
    }
}

/// The two unary methods as tonic's `UnaryService`s.
struct GetDeletes(CompactorService);
struct GetGens(CompactorService);

impl tonic::server::UnaryService<GetDeleteRequestsRequest> for GetDeletes {
    type Response = GetDeleteRequestsResponse;
    type Future = BoxFuture<Response<Self::Response>, Status>;

    fn call(&mut self, r: Request<GetDeleteRequestsRequest>) -> Self::Future {
        let s = self.0.clone();
        Box::pin(async move { s.get_delete_requests(r).await })
    }
}

impl tonic::server::UnaryService<GetCacheGenNumbersRequest> for GetGens {
    type Response = GetCacheGenNumbersResponse;
    type Future = BoxFuture<Response<Self::Response>, Status>;

    fn call(&mut self, r: Request<GetCacheGenNumbersRequest>) -> Self::Future {
        let s = self.0.clone();
        Box::pin(async move { s.get_cache_gen_numbers(r).await })
    }
}

impl<B> tonic::codegen::Service<http::Request<B>> for CompactorService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let svc = self.clone();
        match req.uri().path() {
            GET_DELETE_REQUESTS => Box::pin(async move {
                let method = GetDeletes(svc);
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(method, req).await)
            }),
            GET_CACHE_GEN_NUMBERS => Box::pin(async move {
                let method = GetGens(svc);
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(method, req).await)
            }),
            _ => Box::pin(async move { Ok(Status::unimplemented("unknown method").into_http()) }),
        }
    }
}

impl tonic::server::NamedService for CompactorService {
    const NAME: &'static str = "grpc.Compactor";
}

/// Serves `grpc.Compactor` on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Arc<DeleteApi>,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(20)))
        .add_service(CompactorService::new(api))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), stop)
        .await
}
