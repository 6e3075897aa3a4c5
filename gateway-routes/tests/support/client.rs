//! A minimal HTTP client over one connection, so tests control connection reuse.

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

/// What a response carried.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The echo backend's JSON report.
    pub fn echo(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 or HTTP/2 connection.
pub enum Connection {
    H1(http1::SendRequest<Empty<Bytes>>),
    H2(http2::SendRequest<Empty<Bytes>>),
}

impl Connection {
    pub async fn h1(addr: SocketAddr) -> Self {
        Self::h1_over(TcpStream::connect(addr).await.unwrap()).await
    }

    pub async fn h1_over<S>(io: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) = http1::handshake(TokioIo::new(io)).await.unwrap();
        tokio::spawn(conn);
        Self::H1(send)
    }

    pub async fn h2(addr: SocketAddr) -> Self {
        Self::h2_over(TcpStream::connect(addr).await.unwrap()).await
    }

    pub async fn h2_over<S>(io: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
        tokio::spawn(conn);
        Self::H2(send)
    }

    /// GET `path` with `Host: host`; `Err` when the connection failed.
    pub async fn get(&mut self, host: &str, path: &str) -> Result<Answer, hyper::Error> {
        let response = match self {
            Self::H1(send) => {
                send.ready().await?;
                let request = Request::get(path)
                    .header("host", host)
                    .body(Empty::new())
                    .unwrap();
                send.send_request(request).await?
            }
            Self::H2(send) => {
                send.ready().await?;
                let request = Request::get(format!("http://{host}{path}"))
                    .body(Empty::new())
                    .unwrap();
                send.send_request(request).await?
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// GET over a fresh HTTP/1.1 connection.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Answer {
    Connection::h1(addr).await.get(host, path).await.unwrap()
}
