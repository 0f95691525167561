//! SIP over WebSocket (RFC 7118) on top of a TCP or TLS stream: the HTTP Upgrade handshake with
//! sub-protocol `sip` in both directions, then one SIP message per WebSocket message. Framing,
//! masking, ping/pong and close are handled here; the core sees one `StreamData` per received
//! text or binary message, and each of its writes leaves as one text frame (binary when the
//! bytes are not UTF-8).

use crate::conn::WriteCmd;
use crate::driver::Event;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use switchboard_core::io::{CloseReason, ConnId, Input};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket sub-protocol of RFC 7118.
pub const SUBPROTOCOL: &str = "sip";
/// The largest WebSocket message accepted (one SIP message).
const MAX_MESSAGE: usize = 1024 * 1024;

const PROTOCOL_HEADER: &str = "Sec-WebSocket-Protocol";

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// True if a `Sec-WebSocket-Protocol` list offers `sip`.
fn offers_sip(request: &Request) -> bool {
    request
        .headers()
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(SUBPROTOCOL))
}

/// The server handshake: accepts the upgrade only if the client offers `sip`, and echoes it
/// (RFC 7118 §4); any other request is answered `400 Bad Request`.
pub async fn accept<S>(stream: S) -> Result<WebSocketStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    #[allow(
        clippy::result_large_err,
        reason = "the callback's type is tungstenite's"
    )]
    let check = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        if !offers_sip(request) {
            let mut refusal = ErrorResponse::new(Some(
                "the WebSocket sub-protocol \"sip\" is required (RFC 7118)\n".to_owned(),
            ));
            *refusal.status_mut() = StatusCode::BAD_REQUEST;
            return Err(refusal);
        }
        response
            .headers_mut()
            .insert(PROTOCOL_HEADER, HeaderValue::from_static(SUBPROTOCOL));
        Ok(response)
    };
    tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config())).await
}

/// The client handshake toward `to`: `GET /` offering sub-protocol `sip`. tungstenite refuses
/// an answer that does not select it.
pub async fn connect<S>(
    stream: S,
    to: SocketAddr,
    secure: bool,
) -> Result<WebSocketStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let scheme = if secure { "wss" } else { "ws" };
    let mut request = format!("{scheme}://{to}/").into_client_request()?;
    request
        .headers_mut()
        .insert(PROTOCOL_HEADER, HeaderValue::from_static(SUBPROTOCOL));
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config())).await?;
    Ok(ws)
}

/// Runs one WebSocket connection like `conn::run` runs a byte stream: received messages become
/// `StreamData`, queued writes become one frame each; `Closed` is reported once.
pub async fn run<S>(
    conn: ConnId,
    ws: WebSocketStream<S>,
    mut rx: mpsc::Receiver<WriteCmd>,
    events: mpsc::Sender<Event>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let read = async {
        loop {
            let bytes = match stream.next().await {
                None => return CloseReason::PeerClosed,
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return CloseReason::PeerClosed
                }
                Some(Err(error)) => {
                    tracing::debug!(?conn, %error, "WebSocket read failed");
                    return CloseReason::IoError;
                }
                Some(Ok(Message::Text(text))) => Bytes::from(text),
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(Message::Close(_))) => return CloseReason::PeerClosed,
                // Pings are answered by tungstenite; pongs and raw frames carry no SIP.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            };
            let input = Input::StreamData { conn, bytes };
            if events.send(input.into()).await.is_err() {
                return CloseReason::IoError;
            }
        }
    };
    let write = async {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                WriteCmd::Data(bytes) => {
                    let message = if std::str::from_utf8(&bytes).is_ok() {
                        Message::Text(Utf8Bytes::try_from(bytes).unwrap_or_default())
                    } else {
                        Message::Binary(bytes)
                    };
                    if let Err(error) = sink.send(message).await {
                        tracing::debug!(?conn, %error, "WebSocket write failed");
                        return CloseReason::IoError;
                    }
                }
                WriteCmd::Close => break,
            }
        }
        let _ = sink.close().await;
        CloseReason::Requested
    };
    tokio::pin!(read, write);
    let mut reported = false;
    loop {
        tokio::select! {
            reason = &mut read, if !reported => {
                reported = true;
                let _ = events.send(Input::Closed { conn, reason }.into()).await;
            }
            reason = &mut write => {
                if !reported {
                    let _ = events.send(Input::Closed { conn, reason }.into()).await;
                }
                return;
            }
        }
    }
}
